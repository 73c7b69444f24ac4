import { histogram, type Registry } from '@platform/metrics'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { collectDefaultMetrics } from 'prom-client'

export const METRICS_PATH = '/metrics'

/** Seconds; from 5 ms (a cached read) to 10 s (beyond any timeout a client waits). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Process metrics (CPU, memory, event loop lag, GC) once per registry: registering them twice throws, and a test
 * process builds several apps over one registry.
 */
export function ensureDefaultMetrics(registry: Registry): void {
  if (registry.getSingleMetric('process_cpu_user_seconds_total')) return
  collectDefaultMetrics({ register: registry })
}

/**
 * The route label is the pattern (/v1/webhooks/:source), never the raw URL: raw URLs hold ids and would grow
 * the number of time series without bound. Requests that matched no route share the label "unmatched".
 */
export function routeLabel(request: FastifyRequest): string {
  return request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched')
}

const registries = new WeakMap<object, Registry>()

/**
 * The registry an app serves at /metrics. For tests that check every metric a service registers (its type and
 * labels, samples or not: describeMetrics) against the docs, the alert rules and the dashboards.
 */
export function registryOf(app: object): Registry | undefined {
  return registries.get(app)
}

/** `/metrics` in Prometheus' text format, and a duration histogram observed when each response is sent. */
export function registerMetrics(app: FastifyInstance, registry: Registry): void {
  registries.set(app, registry)
  ensureDefaultMetrics(registry)
  const duration = histogram(
    registry,
    'http_request_duration_seconds',
    'Time from receiving an HTTP request to sending its response',
    ['method', 'route', 'status_code'],
    DURATION_BUCKETS,
  )

  app.addHook('onResponse', (request, reply, done) => {
    duration.observe(
      { method: request.method, route: routeLabel(request), status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    )
    done()
  })

  const schema = {
    summary: 'Prometheus metrics of this instance',
    description: 'The text exposition format; names and labels: docs/operations.md#metrics.',
    tags: ['metrics'],
    response: {
      200: {
        description: 'Every metric of the registry',
        content: { [registry.contentType]: { schema: { type: 'string' } } },
      },
    },
  }
  app.get(METRICS_PATH, { config: { rateLimit: false }, schema }, async (_request, reply) => {
    reply.type(registry.contentType)
    return registry.metrics()
  })
}
