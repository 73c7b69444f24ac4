import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { Redis } from 'ioredis'

/**
 * The counting of @fastify/rate-limit's RedisStore (same keys, same TTL rule: the window starts with the first
 * request), with the increments of concurrent requests for one key coalesced: while a key's command is on its way,
 * the requests that arrive for it wait, and then go as ONE `INCRBY n`. Request i of that group gets
 * `current = total - n + i`, exactly what n separate INCRs would have handed out, so limits stay exact and shared
 * between instances; a busy key costs one Redis round trip (and one socket write) per group instead of per
 * request. A lone request goes at once, as before. A failed command fails its whole group (skipOnError applies).
 */
const lua = `
  local current = redis.call('INCRBY', KEYS[1], tonumber(ARGV[2]))
  local ttl = tonumber(ARGV[1])
  if current == tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ttl)
  else
    ttl = redis.call('PTTL', KEYS[1])
  end
  return {current, ttl}
`

type Callback = (error: Error | null, result: { current: number; ttl: number } | null) => void
type ScriptClient = Redis & {
  rateLimitBy(key: string, timeWindow: number, by: number, cb: (e: Error | null, r?: [number, number]) => void): void
}

interface KeyState {
  busy: boolean
  waiting: { cb: Callback; timeWindow: number }[]
}

export interface RateLimitStoreOptions {
  continueExceeding?: boolean
  exponentialBackoff?: boolean
}

/** A store class for @fastify/rate-limit's `store` option, counting in `redis` under `nameSpace`. */
export function coalescingRedisStore(redis: Redis, nameSpace: string): FastifyRateLimitStoreCtor {
  const client = redis as ScriptClient
  if (!client.rateLimitBy) redis.defineCommand('rateLimitBy', { numberOfKeys: 1, lua })

  class CoalescingRedisStore {
    private readonly keys = new Map<string, KeyState>()

    constructor(
      options: RateLimitStoreOptions,
      private readonly prefix = nameSpace,
    ) {
      // These change the TTL per request; their counting is not the one implemented here.
      if (options.continueExceeding || options.exponentialBackoff) {
        throw new Error('the coalescing rate-limit store supports neither continueExceeding nor exponentialBackoff')
      }
    }

    incr(key: string, cb: Callback, timeWindow: number): void {
      const full = this.prefix + key
      let state = this.keys.get(full)
      if (!state) {
        state = { busy: false, waiting: [] }
        this.keys.set(full, state)
      }
      state.waiting.push({ cb, timeWindow })
      if (!state.busy) this.send(full, state)
    }

    child(routeOptions: RateLimitStoreOptions & { routeInfo: { method: string; url: string } }) {
      return new CoalescingRedisStore(
        routeOptions,
        `${this.prefix}${routeOptions.routeInfo.method}${routeOptions.routeInfo.url}-`,
      )
    }

    private send(full: string, state: KeyState): void {
      const group = state.waiting
      state.waiting = []
      state.busy = true
      // The window of the group's first request: the one a run of single INCRs would have set.
      client.rateLimitBy(full, group[0]?.timeWindow ?? 1000, group.length, (error, result) => {
        if (state.waiting.length > 0) this.send(full, state)
        else {
          state.busy = false
          this.keys.delete(full)
        }
        if (error || !result) {
          for (const w of group) w.cb(error ?? new Error('no reply from the rate-limit script'), null)
          return
        }
        const [total, ttl] = result
        for (const [i, w] of group.entries()) w.cb(null, { current: total - group.length + i + 1, ttl })
      })
    }
  }
  // The plugin calls incr(key, cb, timeWindow, max) and child(mergedRouteParams); its typings name neither.
  return CoalescingRedisStore as unknown as FastifyRateLimitStoreCtor
}
