import { type Context, createTraceState, ROOT_CONTEXT, type SpanContext, trace } from '@opentelemetry/api'
import { activeSpanContext } from './state.js'

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) written and read by hand: the outbox stores it as text,
 * AMQP headers carry it, and both directions must work without a registered propagator (a worker thread, a test).
 * `traceparent` is "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; a later version may append fields, which
 * are ignored (the spec's rule for parsing an unknown version).
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$/

/** The trace context of a message: one W3C traceparent, and its tracestate when it has one. */
export interface TraceCarrier {
  traceparent: string
  tracestate?: string
}

export function parseTraceparent(traceparent: unknown, tracestate?: unknown): SpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined
  const m = TRACEPARENT.exec(traceparent.trim())
  if (!m) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string?]
  if (version === 'ff' || (version === '00' && rest)) return undefined
  const sc: SpanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & 1, isRemote: true }
  if (typeof tracestate === 'string' && tracestate.trim() !== '') sc.traceState = createTraceState(tracestate.trim())
  return trace.isSpanContextValid(sc) ? sc : undefined
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`
}

/** A context whose parent is the remote span `traceparent` names; undefined when it names none. */
export function remoteContext(traceparent: unknown, tracestate?: unknown): Context | undefined {
  const sc = parseTraceparent(traceparent, tracestate)
  return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined
}

export function carrierOf(sc: SpanContext): TraceCarrier {
  const state = sc.traceState?.serialize()
  return state ? { traceparent: formatTraceparent(sc), tracestate: state } : { traceparent: formatTraceparent(sc) }
}

/** The active span as a carrier (what enqueue stores with an outbox row); undefined when off or outside a span. */
export function currentCarrier(): TraceCarrier | undefined {
  const sc = activeSpanContext()
  return sc ? carrierOf(sc) : undefined
}
