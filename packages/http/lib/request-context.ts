import type { IncomingMessage } from 'node:http'
import { CORRELATION_HEADER, correlationIdFrom, runWithContext } from '@platform/logging'
import { context, tracingEnabled } from '@platform/tracing'
import {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify'
import { serverSpanContext, startServerSpan } from './tracing.js'

/**
 * Correlation ids for HTTP requests. The id is the request's Fastify id: taken from the caller's
 * `x-correlation-id` header when it is safe to log, otherwise a new UUID, or, with tracing on, the request's trace id
 * (its server span starts here, tracing.ts), so that the id an operator finds in a response or a log line is the id
 * to look up in the trace store. The logger's mixin reads it from AsyncLocalStorage (@platform/logging), so every
 * line written while a request is handled carries it, and the outbox and messaging code pick it up the same way
 * without anyone passing it along.
 */
export function genReqId(req: IncomingMessage): string {
  const span = startServerSpan(req)
  return correlationIdFrom(req.headers[CORRELATION_HEADER], span && (() => span.spanContext().traceId))
}

/** Runs `fn` inside the request's correlation context, and its server span's when tracing is on. */
export function inRequestContext<T>(request: FastifyRequest, fn: () => T): T {
  const traced = tracingEnabled() ? serverSpanContext(request.raw) : undefined
  return runWithContext({ correlationId: request.id }, traced ? () => context.with(traced, fn) : fn)
}

/**
 * Enters the context in two places. onRequest covers hooks such as the rate limiter; the body, though, is read
 * from socket events that were set up outside any request, so after parsing the context is gone and
 * preValidation enters it again, for validation, preHandler hooks and the handler with all its awaits
 * (the same two-step approach as @fastify/request-context). Calling `done` inside `runWithContext` makes the
 * rest of the chain start inside the context; promises created there keep it.
 */
export function registerRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(CORRELATION_HEADER, request.id)
    inRequestContext(request, done)
  })
  app.addHook('preValidation', (request, _reply, done) => {
    inRequestContext(request, done)
  })
}

/**
 * The correlation id reaches log lines through the logger's mixin, so request loggers get no `reqId` binding
 * of their own (it would only repeat the id under a second name).
 */
export const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = (
  logger,
  _bindings,
  options,
) => logger.child({}, { ...options, serializers: { ...options.serializers, req: serializeRequest } })

/**
 * Fastify's own request serializer (lib/logger-pino.js: method, url, host, address), with the values of secret
 * query parameters replaced (redactQuery): an OAuth callback's URL carries its code and state.
 */
function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactQuery(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/**
 * Query parameters that carry secrets: OAuth authorization responses (code, state), tokens, signatures. Their
 * values are replaced in logged URLs ("incoming request" at debug level logs the URL); pino's redact paths cannot
 * reach inside a string.
 */
const SECRET_PARAMS =
  /^(code|state|nonce|code_verifier|token|access_token|refresh_token|id_token|client_secret|password|secret|signature|sig)$/i

export function redactQuery(url: string): string {
  const at = url.indexOf('?')
  if (at < 0) return url
  const query = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      if (eq < 0) return pair
      let name = pair.slice(0, eq)
      try {
        name = decodeURIComponent(name.replaceAll('+', ' '))
      } catch {}
      return SECRET_PARAMS.test(name) ? `${pair.slice(0, eq)}=[redacted]` : pair
    })
    .join('&')
  return `${url.slice(0, at)}?${query}`
}

/**
 * Fastify's own per-request log lines, written inside the request's context so they carry its correlation id.
 * "request completed" is written from the response's 'finish' event, outside any context. Probe and scrape
 * routes are not logged: they run every few seconds and say nothing about traffic.
 */
export class ContextLogController extends LogController {
  constructor(quietPaths: readonly string[]) {
    const quiet = new Set(quietPaths)
    super({ disableRequestLogging: (request) => quiet.has(request.url.split('?')[0] ?? '') })
  }

  override incomingRequest(request: FastifyRequest, _reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return
    inRequestContext(request, () => request.log.debug({ req: request }, 'incoming request'))
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    inRequestContext(request, () => super.requestCompleted(error, request, reply))
  }

  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    inRequestContext(request, () => super.streamError(error, request, reply))
  }
}
