import { waitFor } from '@platform/testing'
import { startTracing, type Tracing } from '@platform/tracing'
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '@platform/tracing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServiceApp } from '../index.js'
import { buildTestApp } from './helpers.js'

/**
 * Server spans with tracing on and callers trusted (TRACE_TRUST_INCOMING_CONTEXT; the untrusted edge:
 * tracing-untrusted.unit.test.ts): each request one span named by its route, continuing a caller's traceparent; the
 * correlation id is the trace id unless the caller sent one; probes get no span; a 5xx fails its span, a 4xx not.
 */
let receiver: OtlpReceiver
let tracing: Tracing
let app: ServiceApp
let log: Awaited<ReturnType<typeof buildTestApp>>['log']

beforeAll(async () => {
  receiver = await startOtlpReceiver()
  tracing = await startTracing({
    service: 'http-test',
    endpoint: `${receiver.url}/v1/traces`,
    sampleRatio: 1,
    trustIncomingContext: true,
  })
  ;({ app, log } = await buildTestApp())
  app.get(
    '/guarded',
    {
      preHandler: async function checkCaller() {},
    },
    async function guardedHandler() {
      return { ok: true }
    },
  )
  app.get('/boom', async () => {
    throw new Error('kaput')
  })
})

afterAll(async () => {
  await app?.close()
  await tracing?.shutdown()
  await receiver?.close()
})

/** The trace's spans, the server span first (the Fastify instrumentation's spans after it). */
async function exported(traceId: string) {
  await tracing.flush()
  return waitFor(() => {
    const got = receiver.trace(traceId)
    const server = got.filter((s) => s.scope === '@platform/http')
    return server.length > 0 ? [...server, ...got.filter((s) => s.scope !== '@platform/http')] : undefined
  })
}

describe('server spans', () => {
  it("continues the caller's trace, names the span by its route, and answers its trace id as correlation id", async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const res = await app.inject({
      method: 'GET',
      url: '/items/42?x=1',
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['x-correlation-id']).toBe(traceId)
    const [span] = await exported(traceId)
    expect(span).toMatchObject({
      service: 'http-test',
      name: 'GET /items/:id',
      kind: SPAN_KIND.server,
      parentSpanId: '00f067aa0ba902b7',
      status: 0,
    })
    expect(span?.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/items/:id',
      'url.path': '/items/42',
      'http.response.status_code': 200,
      'platform.correlation_id': traceId,
    })
    // Fastify's own line of the request, written inside the span, carries its ids.
    const completed = log.lines.find((l) => l.msg === 'request completed' && l.correlationId === traceId)
    expect(completed).toMatchObject({ trace_id: traceId, span_id: span?.spanId })
  })

  it("has the Fastify instrumentation's spans under the server span: the request, its preHandler hooks, the handler", async () => {
    const res = await app.inject({ method: 'GET', url: '/guarded' })
    expect(res.statusCode).toBe(200)
    const [server, ...rest] = await waitFor(async () => {
      const spans = await exported(String(res.headers['x-correlation-id']))
      return spans.length >= 4 ? spans : undefined
    })
    const request = rest.find((s) => s.name === 'request')
    expect(request).toMatchObject({ scope: '@fastify/otel', kind: SPAN_KIND.internal, parentSpanId: server?.spanId })
    expect(request?.attributes).toMatchObject({ 'http.route': '/guarded' })
    const children = rest.filter((s) => s.parentSpanId === request?.spanId).map((s) => s.name)
    expect(children.sort()).toEqual(['handler - guardedHandler', 'preHandler - checkCaller'])
    // The platform's own hooks of every request (guards, rate limit, closing check) make no spans.
    expect(rest).toHaveLength(3)
  })

  it("starts a trace of its own without a traceparent, and keeps a caller's correlation id", async () => {
    const fresh = await app.inject({ method: 'POST', url: '/items', payload: { name: 'x', count: 1 } })
    const traceId = String(fresh.headers['x-correlation-id'])
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)
    expect((await exported(traceId))[0]).toMatchObject({ name: 'POST /items', parentSpanId: '' })

    const own = await app.inject({ method: 'GET', url: '/items/1', headers: { 'x-correlation-id': 'order-7' } })
    expect(own.headers['x-correlation-id']).toBe('order-7')
    await tracing.flush()
    await waitFor(() => receiver.spans().some((s) => s.attributes['platform.correlation_id'] === 'order-7'))
  })

  it('fails the span of a 5xx, not of a 4xx, and makes none for probes', async () => {
    const boom = await app.inject({ method: 'GET', url: '/boom' })
    const bad = await app.inject({ method: 'POST', url: '/items', payload: { name: '' } })
    expect([boom.statusCode, bad.statusCode]).toEqual([500, 400])
    const [failed] = await exported(String(boom.headers['x-correlation-id']))
    const [refused] = await exported(String(bad.headers['x-correlation-id']))
    expect([failed?.status, refused?.status]).toEqual([2, 0])

    const probe = await app.inject({ method: 'GET', url: '/health/live' })
    expect(probe.headers['x-correlation-id']).not.toMatch(/^[0-9a-f]{32}$/)
    await tracing.flush()
    expect(receiver.spans().some((s) => String(s.attributes['url.path']).startsWith('/health'))).toBe(false)
  })
})
