import type { Logger } from '@platform/logging'
import type { ServiceRuntime } from '@platform/service'

type Redis = ServiceRuntime<true>['redis']

/**
 * Sessions revoked before their access tokens run out (logout, reuse detection: docs/feed.md#tokens). An access
 * token is checked by signature alone, so without this a revoked session, a stolen family among them, kept
 * working for up to FEED_ACCESS_TOKEN_TTL_S. On revoke the session's id is set here with that TTL (the longest a
 * token of it can still be valid); `authenticate` asks with one GET per request. This module alone owns the key
 * `feed:auth:revoked:<session id>`, under the client's keyPrefix (REDIS_PREFIX) like every key of the service.
 *
 * Redis down: the check fails open (the token's signature and expiry still hold; refusing every request would
 * turn a Redis outage into a full outage), with a warning at most once a minute.
 */
export interface RevokedSessions {
  mark(sessionId: string): Promise<void>
  isRevoked(sessionId: string): Promise<boolean>
}

const WARN_EVERY_MS = 60_000

export function createRevokedSessions(redis: Redis, ttlSeconds: number, logger: Logger): RevokedSessions {
  const keyOf = (sessionId: string) => `feed:auth:revoked:${sessionId}`
  let warnedAt = 0
  const warn = (error: unknown, what: string) => {
    if (Date.now() - warnedAt < WARN_EVERY_MS) return
    warnedAt = Date.now()
    logger.warn({ err: error }, `revoked-session ${what} failed: Redis unavailable, failing open`)
  }
  return {
    async mark(sessionId) {
      try {
        await redis.set(keyOf(sessionId), '1', 'EX', ttlSeconds)
      } catch (error) {
        warn(error, 'mark')
      }
    },
    async isRevoked(sessionId) {
      try {
        return (await redis.get(keyOf(sessionId))) !== null
      } catch (error) {
        warn(error, 'check')
        return false
      }
    },
  }
}
