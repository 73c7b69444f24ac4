import {
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { RPCType, setRPCMetadata } from '@opentelemetry/core'

/**
 * Whether this process (or worker thread) exports traces. Every instrumented place asks this first and does nothing
 * else when it is false: with tracing off (no OTLP endpoint configured, the default) no span, context or header is
 * made, so the hot paths (ingest's group commit, the relay, the consumers) cost what they cost before.
 */
let enabled = false

/**
 * Whether an incoming HTTP request's W3C trace context is continued (TRACE_TRUST_INCOMING_CONTEXT): only for services
 * that sit behind callers of the platform's own. Off, a server span starts a trace of its own and links to the
 * caller's (@platform/http tracing.ts).
 */
let trustIncoming = false

/** One tracer per instrumentation scope: the package that makes the spans ('@platform/http', '@platform/db', ...). */
const tracers = new Map<string, Tracer>()

export function tracingEnabled(): boolean {
  return enabled
}

/** Set by startTracing and its shutdown only. A shutdown also forgets the tracers (they belong to its provider). */
export function setTracingEnabled(value: boolean, trustIncomingContext = false): void {
  enabled = value
  trustIncoming = value && trustIncomingContext
  if (!value) tracers.clear()
}

/** True when tracing is on and incoming HTTP trace context is to be continued, not only linked. */
export function trustIncomingContext(): boolean {
  return trustIncoming
}

function tracerFor(scope: string): Tracer {
  let tracer = tracers.get(scope)
  if (!tracer) {
    tracer = trace.getTracer(scope)
    tracers.set(scope, tracer)
  }
  return tracer
}

/** A span of `scope`: a child of `parent` when given, else of the active context (a root span when there is none). */
export function startSpan(scope: string, name: string, options: SpanOptions = {}, parent?: Context): Span {
  return tracerFor(scope).startSpan(name, options, parent ?? context.active())
}

/**
 * Runs `fn` with `span` as the active span: spans started inside are its children, log lines carry its ids. `base`
 * is the context it is set in (the active one by default; ROOT_CONTEXT for work that belongs to no caller).
 */
export function withSpan<T>(span: Span, fn: () => T, base: Context = context.active()): T {
  return context.with(trace.setSpan(base, span), fn)
}

/** The context whose active span is `span` (a parent to hand to startSpan). */
export function contextWith(span: Span, base: Context = ROOT_CONTEXT): Context {
  return trace.setSpan(base, span)
}

/**
 * The context of an HTTP server span: the span, marked as the request's HTTP server span (OpenTelemetry's RPC
 * metadata, as the official http instrumentation marks it), so that the Fastify instrumentation's request span
 * under it is an internal span, not a second server span for the same request (@fastify/otel reads the mark).
 */
export function serverContext(parent: Context, span: Span): Context {
  return setRPCMetadata(trace.setSpan(parent, span), { type: RPCType.HTTP, span })
}

/** Ends the span, as failed when there is an error (its message as the status, the exception as an event). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) failSpan(span, error)
  span.end()
}

export function failSpan(span: Span, error: unknown): void {
  const exception = error instanceof Error ? error : new Error(String(error))
  span.recordException(exception)
  span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message.slice(0, 500) })
}

/** The active span's context when tracing is on and there is a valid one (what log lines and outbox rows carry). */
export function activeSpanContext(): SpanContext | undefined {
  if (!enabled) return undefined
  const span = trace.getSpan(context.active())
  if (!span) return undefined
  const sc = span.spanContext()
  return trace.isSpanContextValid(sc) ? sc : undefined
}

/** True when tracing is on and a span is active: the test of instrumentation that makes no root spans (queries). */
export function insideSpan(): boolean {
  return enabled && trace.getSpan(context.active()) !== undefined
}
