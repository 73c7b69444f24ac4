import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RateLimitPluginOptions } from '@fastify/rate-limit'
// Its FastifySchema augmentation (summary, tags, security, ...) for every service's route schemas (OpenAPI).
import type {} from '@fastify/swagger'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Logger } from '@platform/logging'
import type { Registry } from '@platform/metrics'
import Fastify, { type FastifyInstance, type RawServerDefault } from 'fastify'
import type { Redis } from 'ioredis'
import { clientErrorHandler, type HttpTimeoutConfig, httpServerOptions, refuseConnect } from './connection-guards.js'
import { ProblemError } from './errors.js'
import { HEALTH_PATHS, type ReadinessChecks, registerHealthRoutes, registerReadinessMetric } from './health.js'
import { registerJsonParser } from './json-guard.js'
import { METRICS_PATH, registerMetrics } from './metrics.js'
import { type OpenApiOptions, registerOpenApi } from './openapi.js'
import { registerErrorHandler, registerNotFoundHandler } from './problem-handler.js'
import { problemTypes } from './problem-types.js'
import { type RateLimitConfig, registerRateLimit } from './rate-limit.js'
import { ContextLogController, childLoggerFactory, genReqId, registerRequestContext } from './request-context.js'
import { frameworkErrors, MAX_PARAM_LENGTH, registerRequestGuards } from './request-guards.js'
import { registerFastifySpans, registerServerSpans } from './tracing.js'

/** The Fastify instance every service builds on: TypeBox schemas type request and reply. */
export type ServiceApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger, TypeBoxTypeProvider>

/** The configuration the HTTP layer reads; every service's config (serviceEnv) has it. */
export interface HttpConfig extends RateLimitConfig, HttpTimeoutConfig {
  BODY_LIMIT_BYTES: number
  /** Which proxies' X-Forwarded-For to believe (see TRUST_PROXY in @platform/config); none when absent. */
  TRUST_PROXY?: string
}

/**
 * TRUST_PROXY as Fastify's trustProxy (https://fastify.dev/docs/latest/Reference/Server/#trustproxy): false, true,
 * a hop count, or a list of addresses and CIDR ranges. Off by default: believing X-Forwarded-For from anyone would
 * let a client pick its own rate-limit key.
 */
export function trustProxySetting(
  value: string | undefined,
): boolean | string[] | ((address: string, hop: number) => boolean) {
  const text = value?.trim() ?? ''
  if (text === '' || text === 'false') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) {
    // The n nearest hops (what proxy-addr does with a number, which Fastify's types do not accept).
    const hops = Number(text)
    return (_address, hop) => hop < hops
  }
  return text.split(',').map((part) => part.trim())
}

export interface ServiceAppOptions {
  service: string
  config: HttpConfig
  logger: Logger
  registry: Registry
  /** Dependency name -> check; /health/ready runs them all, in parallel, each within `readinessTimeoutMs`. */
  readiness?: ReadinessChecks
  readinessTimeoutMs?: number
  /** Shared counter store for the rate limit; without it each instance counts on its own. */
  redis?: Redis
  /** `false` turns the global limit off; an object overrides @fastify/rate-limit options. */
  rateLimit?: false | Partial<RateLimitPluginOptions>
  /** The service's part of its OpenAPI document at /docs/json: description, version, security schemes, tags. */
  openapi?: OpenApiOptions
}

/**
 * Builds the app with what every service needs before its own routes: correlation ids, problem+json errors (also
 * for what Node's parser and Fastify's router refuse), deadlines for slow clients, guards against input PostgreSQL
 * cannot hold (control characters in parameters, unstorable or too deep JSON), the rate limit, the OpenAPI document
 * of its routes (/docs/json, Swagger UI at /docs), /metrics and the health probes. The service registers its routes on the returned instance, and its teardown as onClose hooks
 * (they run after in-flight requests have finished). docs/api-errors.md lists every answer.
 */
export async function buildServiceApp(options: ServiceAppOptions): Promise<ServiceApp> {
  const { config } = options
  const http = httpServerOptions(config)
  const app = Fastify({
    http,
    requestTimeout: http.requestTimeout ?? 0,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    clientErrorHandler,
    frameworkErrors,
    loggerInstance: options.logger,
    genReqId,
    childLoggerFactory,
    logController: new ContextLogController([...HEALTH_PATHS, METRICS_PATH]),
    bodyLimit: config.BODY_LIMIT_BYTES,
    trustProxy: trustProxySetting(config.TRUST_PROXY),
    // Fastify's own 503 while closing is plain JSON; the onRequest hook below answers it as problem+json.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>()

  // The wiring below is typed against Fastify's default instance: the type provider and the logger's own type
  // only matter to the services' route handlers, and Fastify's generics are invariant in both.
  const base = app as unknown as FastifyInstance
  registerRequestContext(base)
  registerServerSpans(base)
  refuseConnect(app.server)
  registerRequestGuards(base)
  registerJsonParser(base)

  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', (_request, _reply, done) => {
    if (!closing) return done()
    done(new ProblemError(problemTypes.shuttingDown, { detail: 'The service is shutting down.' }))
  })
  // Once closing, every response (in-flight ones included) ends its keep-alive connection. Otherwise a client
  // holding one open would keep server.close() waiting for keepAliveTimeout, past the shutdown deadline, and
  // its next request would be sent to an instance that is going away.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })

  registerErrorHandler(base, config.BODY_LIMIT_BYTES)
  if (options.rateLimit !== false) await registerRateLimit(base, config, options.redis, options.rateLimit || {})
  registerNotFoundHandler(base, options.rateLimit === false ? undefined : base.rateLimit())
  // Before any route (the generator learns them from onRoute), after the 404/405 table (which then knows /docs).
  await registerOpenApi(base, options.service, options.openapi)
  registerMetrics(base, options.registry)
  const health = { checks: options.readiness ?? {}, timeoutMs: options.readinessTimeoutMs ?? 1000 }
  registerHealthRoutes(base, health)
  registerReadinessMetric(options.registry, health)
  // Last: it wraps the hooks and routes added after it (the service's), not the platform's of every request.
  await registerFastifySpans(base)
  return app
}
