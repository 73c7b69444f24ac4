import { ConfigError } from '@platform/config'
import { describe, expect, it } from 'vitest'
import { DEFAULT_SOURCES_FILE, loadSources, parseSources } from '../src/sources.js'

/** The sources file is validated at start; a bad one stops the service with a message naming the problem. */
const source = {
  name: 'payment',
  scheme: 'stripe',
  secrets: ['whsec_0123456789'],
  readToken: 'read-token-0123456789',
}
const parse = (doc: unknown) => parseSources(JSON.stringify(doc), 'sources.json')
const problemOf = (run: () => unknown): string => {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as ConfigError).message
  }
  throw new Error('expected a ConfigError')
}

describe('webhook sources file', () => {
  it('the default file holds payment (stripe) and orders (standard), with defaults applied', () => {
    const sources = loadSources(DEFAULT_SOURCES_FILE)
    expect(sources.get('payment')).toMatchObject({ scheme: 'stripe', format: 'stripe', toleranceSeconds: 300 })
    expect(sources.get('orders')).toMatchObject({ scheme: 'standard', format: 'envelope' })
    const minimal = parse({ sources: [source] }).get('payment')
    expect(minimal).toMatchObject({ toleranceSeconds: 300, rateLimit: { max: 1000, timeWindowMs: 1000 } })
  })

  it('names the file, the place and the problem, never a secret', () => {
    expect(problemOf(() => parse({ sources: [{ ...source, scheme: 'paypal' }] }))).toMatch(
      /WEBHOOK_SOURCES_FILE: sources\.json: \/sources\/0\/scheme/,
    )
    expect(problemOf(() => parse({ sources: [{ ...source, secrets: [] }] }))).toMatch(/\/sources\/0\/secrets/)
    expect(problemOf(() => parse({ sources: [] }))).toMatch(/\/sources/)
    expect(problemOf(() => parse({ sources: [source, source] }))).toMatch(/"payment" appears twice/)
    const badStandard = { ...source, scheme: 'standard', secrets: ['whsec_c2hvcnQ='] }
    const message = problemOf(() => parse({ sources: [badStandard] }))
    expect(message).toMatch(/\/sources\/0\/secrets\/0 must be "whsec_" \+ base64 of 24 to 64 bytes/)
    expect(message).not.toContain('c2hvcnQ')
  })

  it('reports a file that is not JSON or cannot be read', () => {
    expect(problemOf(() => parseSources('{', 'sources.json'))).toMatch(/sources\.json: is not valid JSON/)
    expect(problemOf(() => loadSources('/nonexistent/sources.json'))).toMatch(/cannot be read \(ENOENT\)/)
  })
})
