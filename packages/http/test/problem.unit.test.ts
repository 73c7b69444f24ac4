import { afterEach, describe, expect, it } from 'vitest'
import { INTERNAL_DETAIL, ProblemError, problemTypes, type ServiceApp, serviceUnavailable } from '../index.js'
import { expectProblem } from '../lib/testing.js'
import { buildTestApp } from './helpers.js'

let app: ServiceApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

async function problemApp() {
  const built = await buildTestApp({ rateLimit: {} })
  app = built.app
  app.get('/boom', async () => {
    throw new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2')
  })
  app.get('/unavailable', async () => {
    throw serviceUnavailable('The ledger is being rebuilt.', { headers: { 'retry-after': '30' } })
  })
  app.get('/conflict', async () => {
    throw new ProblemError(409, {
      detail: 'The event was already recorded.',
      type: 'tag:event-platform,2025:duplicate-event',
      extensions: { eventId: 'e-1' },
    })
  })
  app.get('/limited', { config: { rateLimit: { max: 1, timeWindow: 60_000 } } }, async () => 'ok')
  return built
}

describe('problem+json (RFC 9457) for every error', () => {
  // Fastify's Ajv stops at the first error (allErrors: false, so a huge body cannot make validation slow).
  it('400 for a body that fails its schema, naming the invalid member', async () => {
    const { app } = await problemApp()
    const res = await app.inject({ method: 'POST', url: '/items?token=abc', payload: { count: -1 } })
    expectProblem(res, 400, { type: problemTypes.invalidBody.type, title: 'Invalid request body', instance: '/items' })
    expect(res.json().errors).toEqual([{ in: 'body', pointer: '/name', message: expect.stringContaining('name') }])

    const wrongType = await app.inject({ method: 'POST', url: '/items', payload: { name: 'a', count: 'many' } })
    expect(wrongType.json().errors).toEqual([expect.objectContaining({ in: 'body', pointer: '/count' })])
  })

  it.each([
    { status: 400, type: 'application/json', payload: '{"name": "x",', detail: 'The request body is not valid JSON.' },
    { status: 415, type: 'application/xml', payload: '<item/>', detail: 'The request content type is not supported' },
  ])('$status for a body of $type that cannot be parsed', async ({ status, type, payload, detail }) => {
    const { app } = await problemApp()
    const res = await app.inject({ method: 'POST', url: '/items', headers: { 'content-type': type }, payload })
    expectProblem(res, status, { detail: expect.stringContaining(detail), instance: '/items' })
  })

  it('404 for an unknown route, 405 with Allow for a known path and another method', async () => {
    const { app } = await problemApp()
    const missing = await app.inject({ method: 'GET', url: '/nowhere/at/all' })
    expectProblem(missing, 404, { title: 'Not Found', instance: '/nowhere/at/all' })
    const wrongMethod = await app.inject({ method: 'DELETE', url: '/items/42' })
    expectProblem(wrongMethod, 405, { title: 'Method Not Allowed' })
    expect(wrongMethod.headers.allow).toBe('GET, HEAD')
  })

  it('413 for a body over BODY_LIMIT_BYTES', async () => {
    const { app } = await problemApp()
    const res = await app.inject({ method: 'POST', url: '/items', payload: { name: 'x'.repeat(2000), count: 1 } })
    expectProblem(res, 413, { title: 'Payload Too Large' })
  })

  it('429 with Retry-After once the limit is spent', async () => {
    const { app } = await problemApp()
    expect((await app.inject({ method: 'GET', url: '/limited' })).statusCode).toBe(200)
    const res = await app.inject({ method: 'GET', url: '/limited' })
    expectProblem(res, 429, { title: 'Too Many Requests' })
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('429 for unknown paths too, so probing for routes is limited like any other traffic', async () => {
    ;({ app } = await buildTestApp({ rateLimit: { max: 2 } }))
    for (const path of ['/wp-admin', '/.env']) expectProblem(await app.inject({ method: 'GET', url: path }), 404)
    expectProblem(await app.inject({ method: 'GET', url: '/phpmyadmin' }), 429)
  })

  it('a 500 says nothing of its cause, which is logged under the correlation id', async () => {
    const { app, log } = await problemApp()
    const res = await app.inject({ method: 'GET', url: '/boom', headers: { 'x-correlation-id': 'boom-1' } })
    expectProblem(res, 500)
    expect(res.json()).toEqual({
      type: problemTypes.internal.type,
      title: 'Internal Server Error',
      status: 500,
      detail: INTERNAL_DETAIL,
      instance: '/boom',
    })
    expect(res.body).not.toMatch(/ECONNREFUSED|hunter2|stack/)
    const logged = log.lines.find((l) => l.msg === 'request failed')
    expect(logged).toMatchObject({ level: 'error', correlationId: 'boom-1' })
    expect(JSON.stringify(logged)).toContain('ECONNREFUSED')
  })

  it('a thrown ProblemError keeps its status, type, extensions and headers', async () => {
    const { app } = await problemApp()
    const unavailable = await app.inject({ method: 'GET', url: '/unavailable' })
    expectProblem(unavailable, 503, { detail: 'The ledger is being rebuilt.' })
    expect(unavailable.headers['retry-after']).toBe('30')

    const conflict = await app.inject({ method: 'GET', url: '/conflict' })
    expectProblem(conflict, 409)
    expect(conflict.json()).toEqual({
      type: 'tag:event-platform,2025:duplicate-event',
      title: 'Conflict',
      status: 409,
      detail: 'The event was already recorded.',
      instance: '/conflict',
      eventId: 'e-1',
    })
  })
})
