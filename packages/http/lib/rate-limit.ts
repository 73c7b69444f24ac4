import rateLimit, { type RateLimitPluginOptions } from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { tooManyRequests } from './errors.js'
import { coalescingRedisStore } from './rate-limit-store.js'

export interface RateLimitConfig {
  RATE_LIMIT_MAX: number
  RATE_LIMIT_WINDOW_MS: number
  REDIS_PREFIX: string
}

/**
 * A global limit per client address, counted in Redis so every instance of a service shares one budget
 * (@fastify/rate-limit, https://github.com/fastify/fastify-rate-limit). Without a Redis client the count is
 * kept in memory, per instance. Routes override it with `config: { rateLimit: {...} }` or opt out with
 * `config: { rateLimit: false }` (health and metrics do).
 */
export async function registerRateLimit(
  app: FastifyInstance,
  config: RateLimitConfig,
  redis: Redis | undefined,
  overrides: Partial<RateLimitPluginOptions> = {},
): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    max: config.RATE_LIMIT_MAX,
    timeWindow: config.RATE_LIMIT_WINDOW_MS,
    // Counted as @fastify/rate-limit's own Redis store does, with concurrent requests for one key sharing a round trip.
    ...(redis ? { store: coalescingRedisStore(redis, rateLimitNamespace(config.REDIS_PREFIX, redis)) } : {}),
    // A Redis outage must not take the API down: when the store fails, the request goes through unlimited.
    // The client itself must fail fast for this to help (see createRedis: commandTimeout, maxRetriesPerRequest).
    skipOnError: true,
    onExceeded: (request) => request.log.info({ route: request.routeOptions.url }, 'rate limit exceeded'),
    // The plugin has already set Retry-After (and the X-RateLimit-* headers); the thrown problem becomes a 429.
    errorResponseBuilder: (_request, context) =>
      tooManyRequests(
        Math.ceil(context.ttl / 1000),
        `More than ${context.max} requests in the time window; retry in ${context.after}.`,
      ),
    ...overrides,
  })
}

/**
 * Keys live under the service's REDIS_PREFIX. ioredis prepends its own `keyPrefix` to the keys of every command,
 * the limiter's script included, so the prefix is written into the namespace only when the client does not
 * already add it.
 */
export function rateLimitNamespace(prefix: string, redis: Redis): string {
  const applied = redis.options.keyPrefix ?? ''
  return `${applied === prefix ? '' : prefix}rate-limit:`
}
