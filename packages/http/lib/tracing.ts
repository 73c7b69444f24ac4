import type { IncomingMessage } from 'node:http'
import {
  ATTR,
  type Context,
  endSpan,
  failSpan,
  parseTraceparent,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  serverContext,
  startSpan,
  trace,
  tracingEnabled,
  trustIncomingContext,
} from '@platform/tracing'
import type { FastifyInstance } from 'fastify'
import { HEALTH_PATHS } from './health.js'
import { METRICS_PATH } from './metrics.js'

/**
 * The server span of each HTTP request (tracing on only, docs/operations.md "Tracing"). It starts in genReqId, the
 * first thing Fastify does with a request, so that the request's correlation id can be its trace id. A W3C
 * `traceparent` (and `tracestate`) from the caller is continued only when the service trusts its callers
 * (TRACE_TRUST_INCOMING_CONTEXT: the caller is one of the platform's own). Otherwise anyone could pick the trace id,
 * which becomes the correlation id and the event-log rows' trace_id, and force sampling with the sampled flag (the
 * sampler is parent-based); so the span starts a new trace, sampled at the configured ratio, with a link to the
 * caller's context (OpenTelemetry's advice for trust boundaries:
 * https://opentelemetry.io/docs/specs/otel/trace/api/#link). The span's context is entered with
 * the correlation context (inRequestContext, request-context.ts), so handlers, their queries and what they enqueue
 * run inside it. Named "<METHOD> <route>" once routed; ended when the response has been sent.
 *
 * Probes and scrapes get no span: they run every few seconds and would bury the traces of real traffic.
 */
let quiet: Set<string> | undefined // built on first use: health.ts imports this module's importers

interface ServerSpan {
  span: Span
  context: Context
  error?: unknown
}

const serverSpans = new WeakMap<IncomingMessage, ServerSpan>()

/** Starts the request's server span; undefined when tracing is off or the path is a probe's. */
export function startServerSpan(req: IncomingMessage): Span | undefined {
  if (!tracingEnabled()) return undefined
  const path = (req.url ?? '/').split('?')[0] ?? '/'
  quiet ??= new Set<string>([...HEALTH_PATHS, METRICS_PATH])
  if (quiet.has(path)) return undefined
  const caller = parseTraceparent(req.headers.traceparent, req.headers.tracestate)
  const trusted = caller !== undefined && trustIncomingContext()
  const parent = trusted ? trace.setSpanContext(ROOT_CONTEXT, caller) : ROOT_CONTEXT
  const method = req.method ?? 'GET'
  const userAgent = req.headers['user-agent']
  const span = startSpan(
    '@platform/http',
    method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        [ATTR.httpMethod]: method,
        [ATTR.urlPath]: path,
        [ATTR.urlScheme]: 'http',
        ...(userAgent ? { [ATTR.userAgent]: userAgent } : {}),
      },
      ...(caller && !trusted ? { links: [{ context: caller }] } : {}),
    },
    parent,
  )
  serverSpans.set(req, { span, context: serverContext(parent, span) })
  return span
}

/** The context to run the request's work in: its server span's. */
export function serverSpanContext(req: IncomingMessage): Context | undefined {
  return serverSpans.get(req)?.context
}

/**
 * The official Fastify instrumentation (@fastify/otel, a plugin: no loader hook) under the server span: a `request`
 * span (internal: the server span above is the request's server span, serverContext), and under it a span for each
 * hook a service's routes add (`onRequest - authenticate`, idempotency keys) and for the route's handler (`handler -
 * <its name, or its plugin's>`), so a trace shows where a request's time went. Registered last in buildServiceApp,
 * so the platform's own hooks of every request (guards, rate limit, closing check) get none: a dozen spans per
 * request that say nothing. Probes and scrapes get none either. Only when tracing is on.
 *
 * The request span records the error a request ended with, a 4xx's too (the library's choice); the server span's
 * status is the one that says the service failed (5xx only).
 */
export async function registerFastifySpans(app: FastifyInstance): Promise<void> {
  if (!tracingEnabled()) return
  const { FastifyOtelInstrumentation } = await import('@fastify/otel')
  quiet ??= new Set<string>([...HEALTH_PATHS, METRICS_PATH])
  const probes = quiet
  const instrumentation = new FastifyOtelInstrumentation({
    ignorePaths: (route) => probes.has(route.url),
  })
  instrumentation.setTracerProvider(trace.getTracerProvider())
  await app.register(instrumentation.plugin())
}

/** Names, annotates and ends the server spans; registers nothing when tracing is off. */
export function registerServerSpans(app: FastifyInstance): void {
  if (!tracingEnabled()) return
  app.addHook('onRequest', (request, _reply, done) => {
    const entry = serverSpans.get(request.raw)
    if (entry) {
      const route = request.routeOptions.url
      if (route) {
        entry.span.updateName(`${request.method} ${route}`)
        entry.span.setAttribute(ATTR.httpRoute, route)
      }
      entry.span.setAttribute(ATTR.clientAddress, request.ip)
      entry.span.setAttribute(ATTR.correlationId, request.id)
    }
    done()
  })
  app.addHook('onError', (request, _reply, error, done) => {
    const entry = serverSpans.get(request.raw)
    if (entry) entry.error = error
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const entry = serverSpans.get(request.raw)
    if (entry) {
      entry.span.setAttribute(ATTR.httpStatus, reply.statusCode)
      // A 4xx is the client's mistake, not a failed span (the HTTP conventions); a 5xx is ours.
      if (reply.statusCode >= 500) failSpan(entry.span, entry.error ?? new Error(`HTTP ${reply.statusCode}`))
      entry.span.end()
    }
    done()
  })
  app.addHook('onRequestAbort', (request, done) => {
    const entry = serverSpans.get(request.raw)
    if (entry) endSpan(entry.span, new Error('the client closed the connection before the response'))
    done()
  })
}
