import { type CoalescingCounter, tooManyRequests } from '@platform/http'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { SourceConfig } from './sources.js'

/** The one budget of requests naming no configured source (the plugin's default, as before). */
const UNKNOWN_SOURCE_LIMIT = { max: 100, timeWindowMs: 1000 }

/**
 * Each source's budget (`rateLimit` in the sources file: `max` requests per `timeWindowMs`), shared by all its
 * senders and all ingest instances: counted in Redis by @platform/http's coalescing counter, the same counting as the
 * service-wide limit of @fastify/rate-limit (a window starts with its first request; concurrent requests of one key
 * share one INCRBY, and each still gets its exact place in the window).
 *
 * A route-level onRequest hook with a callback, so it runs before the body is read and costs no promise: through the
 * plugin, the check awaited a key generator, the source's max and its window per request and set three X-RateLimit
 * headers on every answer, ~9% of ingest's saturation rate in alternating runs (docs/adr/0008-ingest-group-commit.md).
 * Over the budget: 429 problem+json with Retry-After, the seconds left in the window. When Redis fails, the request
 * goes through (as the plugin's skipOnError): an outage of the counter must not stop webhooks.
 */
export function sourceRateLimit(
  counter: CoalescingCounter,
  sourceOf: (request: FastifyRequest) => SourceConfig | undefined,
) {
  return function checkSourceRate(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) {
    // Requests for unknown sources (answered 404 by the handler) share one budget, so a flood of them is limited too.
    const source = sourceOf(request)
    const { max, timeWindowMs } = source?.rateLimit ?? UNKNOWN_SOURCE_LIMIT
    // No source name contains '/', so the unknown ones' key is no source's.
    const key = `webhook-source:${source?.name ?? '/unknown'}`
    counter.incr(
      key,
      (error, result) => {
        if (error || !result || result.current <= max) return done()
        const seconds = Math.max(1, Math.ceil(result.ttl / 1000))
        request.log.info({ source: source?.name ?? null }, 'source rate limit exceeded')
        done(tooManyRequests(seconds, `More than ${max} requests in ${timeWindowMs} ms; retry in ${seconds} s.`))
      },
      timeWindowMs,
    )
  }
}
