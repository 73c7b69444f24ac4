import { type CommonConfig, DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '@platform/config'
import type { Logger } from '@platform/logging'
import { Redis } from 'ioredis'

/**
 * A Redis client that fails fast: a command waits at most REDIS_COMMAND_TIMEOUT_MS and one reconnection attempt,
 * so a Redis outage slows requests by a bounded amount instead of hanging them (the rate limit skips on error).
 * Keys are prefixed with REDIS_PREFIX by the client itself.
 */
export function createRedis(
  config: Pick<CommonConfig, 'REDIS_URL' | 'REDIS_PREFIX'> & Partial<Pick<CommonConfig, 'REDIS_COMMAND_TIMEOUT_MS'>>,
  logger?: Logger,
): Redis {
  const redis = new Redis(config.REDIS_URL, {
    keyPrefix: config.REDIS_PREFIX,
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    // Callers that pass only the URL and prefix (scripts, tests) get the configuration's default.
    commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    connectTimeout: 2000,
  })
  let down = false
  redis.on('error', (err) => {
    // ioredis emits an error per failed reconnection attempt; one line per outage is enough.
    if (!down) logger?.warn({ err: err.message }, 'Redis unreachable; reconnecting')
    down = true
  })
  redis.on('ready', () => {
    if (down) logger?.info('Redis reachable again')
    down = false
  })
  return redis
}
