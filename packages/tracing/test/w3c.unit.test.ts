import { describe, expect, it } from 'vitest'
import { formatTraceparent, parseTraceparent, remoteContext, trace, tracesEndpoint } from '../index.js'

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

describe('W3C trace context', () => {
  it('reads a traceparent and its tracestate, and writes the traceparent back unchanged', () => {
    const sc = parseTraceparent(TP, 'vendor=abc, other=1')
    expect(sc).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    })
    expect(sc?.traceState?.get('vendor')).toBe('abc')
    expect(formatTraceparent(sc as NonNullable<typeof sc>)).toBe(TP)
    expect(parseTraceparent(TP.replace(/-01$/, '-00'))?.traceFlags).toBe(0)
  })

  it('refuses what names no span: zero ids, version ff, extra fields on version 00, garbage', () => {
    for (const bad of [
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      `${TP}-extra`,
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      'not a traceparent',
      undefined,
      42,
    ]) {
      expect(parseTraceparent(bad), String(bad)).toBeUndefined()
    }
    // A later version may append fields; the first four are read.
    expect(parseTraceparent(`01-${TP.slice(3)}-future`)?.spanId).toBe('b7ad6b7169203331')
  })

  it('makes a context whose span is the remote parent', () => {
    const context = remoteContext(TP)
    expect(context && trace.getSpanContext(context)?.spanId).toBe('b7ad6b7169203331')
    expect(remoteContext('')).toBeUndefined()
  })

  it('takes the traces endpoint as given, or the base endpoint + /v1/traces, or none', () => {
    expect(tracesEndpoint({})).toBe('')
    expect(tracesEndpoint({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toBe(
      'http://collector:4318/v1/traces',
    )
    expect(
      tracesEndpoint({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://other:4318/x',
      }),
    ).toBe('http://other:4318/x')
  })
})
