import { type CoalescingCounter, tooManyRequests } from '@platform/http'
import type { FastifyRequest } from 'fastify'
import { authOf } from '../auth/authenticate.js'

export interface UserRateLimit {
  /** Commands per user and window (FEED_COMMAND_RATE_LIMIT_MAX). */
  max: number
  /** The window, in ms (FEED_COMMAND_RATE_LIMIT_WINDOW_MS); it starts with the window's first command. */
  windowMs: number
}

/**
 * The per-user budget of commands (docs/feed.md#rate-limits), shared by every command route and every feed
 * instance: counted in Redis by @platform/http's coalescing counter, the counting of the service-wide limit per
 * client address (which still applies too). It runs after authentication, as an onRequest hook, so an over-budget
 * request is refused before its body is read or any SQL runs. Replays of an Idempotency-Key count like any request:
 * a client retrying in a loop is what the limit is for.
 *
 * Over the budget: 429 problem+json (rate-limited) with Retry-After, the seconds left in the window. When Redis
 * fails, the command goes through (as the plugin's skipOnError): an outage of the counter must not stop writes.
 */
export function userRateLimit(counter: CoalescingCounter, limit: UserRateLimit) {
  return async function checkUserRate(request: FastifyRequest): Promise<void> {
    const { userId } = authOf(request)
    const result = await new Promise<{ current: number; ttl: number } | null>((resolve) =>
      counter.incr(`feed-commands:${userId}`, (error, counted) => resolve(error ? null : counted), limit.windowMs),
    )
    if (!result || result.current <= limit.max) return
    const seconds = Math.max(1, Math.ceil(result.ttl / 1000))
    request.log.info({ userId }, 'command rate limit exceeded')
    throw tooManyRequests(seconds, `More than ${limit.max} commands in ${limit.windowMs} ms; retry in ${seconds} s.`)
  }
}
