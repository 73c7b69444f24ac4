import { randomBytes } from 'node:crypto'
import type { ServiceRuntime } from '@platform/service'
import { sha256 } from './login-state.js'

type Redis = ServiceRuntime<true>['redis']

/**
 * Short-lived, single-use codes that stand for something the server keeps (a pending link, a finished login):
 * 256 random bits handed to the client, the value kept in Redis under the code's SHA-256 (a dump of Redis holds
 * no usable code) for `ttlSeconds`, and `take` reads and deletes in one command (GETDEL), so a code works once even
 * when two requests race with it (RFC 6749 §4.1.2: "The client MUST NOT use the authorization code more than once").
 */
export interface OneTimeCodes<T> {
  /** A new code for `value`. */
  issue(value: T): Promise<string>
  /** The code's value, removed; undefined when unknown, expired or already taken. */
  take(code: string): Promise<T | undefined>
  readonly ttlSeconds: number
}

const CODE_FORMAT = /^[A-Za-z0-9_-]{43}$/

/** `kind` names the key space (`feed:auth:<kind>:<hash>`), under the client's keyPrefix (REDIS_PREFIX). */
export function createOneTimeCodes<T>(redis: Redis, kind: string, ttlSeconds: number): OneTimeCodes<T> {
  const keyOf = (code: string) => `feed:auth:${kind}:${sha256(code)}`
  return {
    ttlSeconds,
    async issue(value) {
      const code = randomBytes(32).toString('base64url')
      await redis.set(keyOf(code), JSON.stringify(value), 'EX', ttlSeconds)
      return code
    },
    async take(code) {
      if (!CODE_FORMAT.test(code)) return undefined
      const text = await redis.getdel(keyOf(code))
      return text === null ? undefined : (JSON.parse(text) as T)
    },
  }
}
