import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { correlationIdFrom, createLogger, currentCorrelationId, runWithContext } from '../index.js'

function capture() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(chunk.toString()))
      done()
    },
  })
  return { lines, destination }
}

describe('logger', () => {
  it('redacts authorization, signature headers, secrets and tokens', () => {
    const { lines, destination } = capture()
    const logger = createLogger({ service: 'test', destination })
    logger.info({
      req: {
        headers: {
          authorization: 'Bearer abc.def.ghi',
          'stripe-signature': 't=1,v1=deadbeef',
          'webhook-signature': 'v1,Zm9v',
          'x-hub-signature-256': 'sha256=beef',
          'content-type': 'application/json',
        },
      },
      source: { name: 'payment', secrets: ['whsec_x'], readToken: 'rt' },
      session: { refreshToken: 'r1', accessToken: 'a1' },
    })
    const text = JSON.stringify(lines[0])
    for (const secret of ['abc.def.ghi', 'deadbeef', 'Zm9v', 'sha256=beef', 'whsec_x', '"rt"', 'r1', 'a1']) {
      expect(text).not.toContain(secret)
    }
    expect(text).toContain('application/json')
    expect(lines[0]?.service).toBe('test')
  })

  it('adds the correlation id of the current context to every line', () => {
    const { lines, destination } = capture()
    const logger = createLogger({ service: 'test', destination })
    runWithContext({ correlationId: 'corr-123' }, () => {
      expect(currentCorrelationId()).toBe('corr-123')
      logger.info('inside')
    })
    logger.info('outside')
    expect(lines[0]?.correlationId).toBe('corr-123')
    expect(lines[1]?.correlationId).toBeUndefined()
  })

  it('accepts only short printable correlation ids from callers', () => {
    expect(correlationIdFrom('abc-123')).toBe('abc-123')
    expect(correlationIdFrom('bad id\nwith newline')).not.toContain('\n')
    expect(correlationIdFrom('x'.repeat(500))).toHaveLength(36)
  })
})
