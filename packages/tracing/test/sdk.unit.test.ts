import { waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  activeSpanContext,
  remoteContext,
  SpanKind,
  startSpan,
  startTracing,
  type Tracing,
  tracingEnabled,
  withSpan,
} from '../index.js'
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '../lib/testing.js'

/**
 * The SDK against a local OTLP receiver: off without an endpoint, parent-based ratio sampling when on (a new trace
 * sampled at the ratio, a caller's decision kept), spans exported as OTLP JSON, log lines inside a span with its ids.
 */
let receiver: OtlpReceiver
beforeAll(async () => {
  receiver = await startOtlpReceiver()
})
afterAll(async () => {
  await receiver?.close()
})

describe('startTracing', () => {
  it('stays off without an endpoint: no SDK, no active span', async () => {
    const tracing = await startTracing({ service: 'test', endpoint: '', sampleRatio: 1 })
    expect(tracing.enabled).toBe(false)
    expect(tracingEnabled()).toBe(false)
    expect(activeSpanContext()).toBeUndefined()
  })

  it('exports spans as OTLP JSON, samples new traces at the ratio and keeps a caller decision', async () => {
    let tracing: Tracing | undefined
    try {
      tracing = await startTracing({
        service: 'sampled-test',
        endpoint: `${receiver.url}/v1/traces`,
        sampleRatio: 0,
        fetch: false,
      })
      expect(tracingEnabled()).toBe(true)
      // Ratio 0: a new trace is not recorded ...
      const root = startSpan('test', 'dropped root')
      expect(root.isRecording()).toBe(false)
      root.end()
      // ... but a caller's sampled one is, in every span under it.
      const parent = remoteContext('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
      const child = startSpan('test', 'kept child', { kind: SpanKind.CONSUMER }, parent)
      expect(withSpan(child, () => activeSpanContext())?.spanId).toBe(child.spanContext().spanId)
      child.end()
      await tracing.flush()
      const [span] = await waitFor(() => {
        const got = receiver.trace('0af7651916cd43dd8448eb211c80319c')
        return got.length > 0 ? got : undefined
      })
      expect(span).toMatchObject({
        service: 'sampled-test',
        name: 'kept child',
        kind: SPAN_KIND.consumer,
        parentSpanId: 'b7ad6b7169203331',
      })
      expect(receiver.spans().some((s) => s.name === 'dropped root')).toBe(false)
    } finally {
      await tracing?.shutdown()
    }
    expect(tracingEnabled()).toBe(false)
  })

  it('is shared by the runtimes of one process and stops with the last of them', async () => {
    const options = { service: 'shared', endpoint: `${receiver.url}/v1/traces`, sampleRatio: 1, fetch: false }
    const first = await startTracing(options)
    const second = await startTracing(options)
    await first.shutdown()
    await first.shutdown()
    expect(tracingEnabled()).toBe(true)
    await second.shutdown()
    expect(tracingEnabled()).toBe(false)
    // Started again afterwards, it registers anew and exports.
    const again = await startTracing(options)
    const span = startSpan('test', 'after a restart')
    span.end()
    await again.flush()
    await waitFor(() => receiver.spans().some((s) => s.name === 'after a restart' && s.service === 'shared'))
    await again.shutdown()
  })
})
