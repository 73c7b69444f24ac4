import type { Config } from '../config.js'

/**
 * The rate limit of the login, callback, token and logout endpoints: FEED_AUTH_RATE_LIMIT_MAX requests per client
 * address per FEED_AUTH_RATE_LIMIT_WINDOW_MS, each route its own budget, counted in Redis so every feed instance
 * shares it. It is @platform/http's limiter (packages/http/lib/rate-limit.ts: @fastify/rate-limit with the
 * coalescing Redis store) with a tighter budget than the service-wide one: these endpoints are where passwords'
 * equivalents are guessed (codes, refresh tokens) and where a login storm costs provider round trips. Over the
 * budget: 429 problem+json (rate-limited) with Retry-After. The address is the socket's, or the one TRUST_PROXY
 * allows X-Forwarded-For to name (docs/configuration.md#behind-a-load-balancer-trust_proxy).
 *
 * Use it as a route's config: `app.get(path, { config: authRateLimit(config), schema, ... }, handler)`.
 */
export type AuthRateLimitConfig = Pick<Config, 'FEED_AUTH_RATE_LIMIT_MAX' | 'FEED_AUTH_RATE_LIMIT_WINDOW_MS'>

export function authRateLimit(config: AuthRateLimitConfig) {
  return {
    rateLimit: { max: config.FEED_AUTH_RATE_LIMIT_MAX, timeWindow: config.FEED_AUTH_RATE_LIMIT_WINDOW_MS },
  }
}
