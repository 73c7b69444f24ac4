import { waitFor } from '@platform/testing'
import { startTracing, type Tracing } from '@platform/tracing'
import { type OtlpReceiver, startOtlpReceiver } from '@platform/tracing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServiceApp } from '../index.js'
import { buildTestApp } from './helpers.js'

/**
 * Server spans at a public edge (TRACE_TRUST_INCOMING_CONTEXT false, the default): a caller's traceparent neither
 * picks the trace id (nor so the correlation id) nor forces sampling; the span starts a new trace and links to it.
 */
let receiver: OtlpReceiver
let tracing: Tracing | undefined
let app: ServiceApp

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const CALLER_SPAN = '00f067aa0ba902b7'
const traceparent = `00-${CALLER_TRACE}-${CALLER_SPAN}-01`

const start = (sampleRatio: number) =>
  startTracing({ service: 'edge-test', endpoint: `${receiver.url}/v1/traces`, sampleRatio })

beforeAll(async () => {
  receiver = await startOtlpReceiver()
  tracing = await start(1)
  ;({ app } = await buildTestApp())
})

afterAll(async () => {
  await app?.close()
  await tracing?.shutdown()
  await receiver?.close()
})

describe('untrusted incoming trace context', () => {
  it("starts a new trace linked to the caller's, whose id is the correlation id", async () => {
    const res = await app.inject({ method: 'GET', url: '/items/7', headers: { traceparent } })
    expect(res.statusCode).toBe(200)
    const traceId = String(res.headers['x-correlation-id'])
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)
    expect(traceId).not.toBe(CALLER_TRACE)
    await tracing?.flush()
    const [span] = await waitFor(() => {
      const got = receiver.trace(traceId).filter((s) => s.scope === '@platform/http')
      return got.length > 0 ? got : undefined
    })
    expect(span).toMatchObject({ name: 'GET /items/:id', parentSpanId: '', links: [{ traceId: CALLER_TRACE }] })
    expect(span?.links[0]?.spanId).toBe(CALLER_SPAN)
    // Nothing in the caller's trace: not the server span, nor the Fastify instrumentation's spans under it.
    expect(receiver.trace(CALLER_TRACE)).toEqual([])
  })

  it("keeps a caller's x-correlation-id, as before", async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/items/8',
      headers: { traceparent, 'x-correlation-id': 'order-8' },
    })
    expect(res.headers['x-correlation-id']).toBe('order-8')
  })

  it("samples at the service's ratio, whatever the caller's sampled flag says", async () => {
    await tracing?.shutdown()
    tracing = await start(0)
    const res = await app.inject({ method: 'GET', url: '/items/9', headers: { traceparent } })
    expect(res.statusCode).toBe(200)
    // A span that is recorded, and so exported, would show up with the next one, which ratio 0 never records either:
    // flush and look for its correlation id among everything received.
    await tracing.flush()
    const id = String(res.headers['x-correlation-id'])
    expect(receiver.spans().filter((s) => s.traceId === id || s.traceId === CALLER_TRACE)).toEqual([])
  })
})
