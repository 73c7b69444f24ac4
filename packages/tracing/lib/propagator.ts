import {
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api'
import { carrierOf, parseTraceparent } from './w3c.js'

/**
 * The global propagator of a traced process: W3C Trace Context (`traceparent`, `tracestate`; no baggage, which the
 * platform does not use), injected only into requests to the hosts listed in TRACE_PROPAGATE_HOSTS. Its one user is
 * the undici instrumentation (fetch): it injects after its `requestHook`, which hands each client span and its
 * request's origin to `noteRequest`; spans of requests to other hosts are remembered and get no header. Outgoing
 * trace context tells the receiver the platform's trace and span ids and its sampling decision, which an identity
 * provider or a customer's endpoint has no use for (https://www.w3.org/TR/trace-context/#privacy-considerations).
 */
export class HostFilteredPropagator implements TextMapPropagator {
  private readonly exact = new Set<string>()
  private readonly suffixes: string[] = []
  private readonly quiet = new WeakSet<Span>()

  constructor(hosts: readonly string[]) {
    for (const raw of hosts) {
      const host = raw.trim().toLowerCase()
      if (host === '') continue
      if (host.startsWith('.')) this.suffixes.push(host)
      else this.exact.add(host)
    }
  }

  /** Whether a request to `origin` ("https://host:port") may carry the trace context. */
  allows(origin: string): boolean {
    let url: URL
    try {
      url = new URL(origin)
    } catch {
      return false
    }
    const hostname = url.hostname.toLowerCase()
    return (
      this.exact.has(url.host.toLowerCase()) ||
      this.exact.has(hostname) ||
      this.suffixes.some((suffix) => hostname.endsWith(suffix))
    )
  }

  noteRequest(span: Span, origin: string): void {
    if (!this.allows(origin)) this.quiet.add(span)
  }

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpan(ctx)
    if (!span || this.quiet.has(span)) return
    const sc = span.spanContext()
    if (!trace.isSpanContextValid(sc)) return
    const { traceparent, tracestate } = carrierOf(sc)
    setter.set(carrier, 'traceparent', traceparent)
    if (tracestate) setter.set(carrier, 'tracestate', tracestate)
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)
    const sc = parseTraceparent(first(getter.get(carrier, 'traceparent')), first(getter.get(carrier, 'tracestate')))
    return sc ? trace.setSpanContext(ctx, sc) : ctx
  }

  fields(): string[] {
    return ['traceparent', 'tracestate']
  }
}
