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

export type RateCountCallback = (error: Error | null, result: { current: number; ttl: number } | null) => void
type ScriptClient = Redis & {
  rateLimitBy(key: string, timeWindow: number, by: number, cb: (e: Error | null, r?: [number, number]) => void): void
}

interface KeyState {
  busy: boolean
  waiting: { cb: RateCountCallback; timeWindow: number }[]
}

export interface RateLimitStoreOptions {
  continueExceeding?: boolean
  exponentialBackoff?: boolean
}

/**
 * Counts requests per key in windows of `timeWindow` ms, coalescing concurrent increments of one key as described
 * above. `incr` calls back with the request's place in its window (`current`, 1-based) and the window's remaining
 * ms (`ttl`). Used by the store below, and directly by routes with budgets of their own (ingest's per-source limit).
 */
export interface CoalescingCounter {
  incr(key: string, cb: RateCountCallback, timeWindow: number): void
}

export function createCoalescingCounter(redis: Redis, prefix: string): CoalescingCounter {
  const client = redis as ScriptClient
  if (!client.rateLimitBy) redis.defineCommand('rateLimitBy', { numberOfKeys: 1, lua })
  const keys = new Map<string, KeyState>()

  function send(full: string, state: KeyState): void {
    const group = state.waiting
    state.waiting = []
    state.busy = true
    // The window of the group's first request: the one a run of single INCRs would have set.
    client.rateLimitBy(full, group[0]?.timeWindow ?? 1000, group.length, (error, result) => {
      if (state.waiting.length > 0) send(full, state)
      else {
        state.busy = false
        keys.delete(full)
      }
      if (error || !result) {
        for (const w of group) w.cb(error ?? new Error('no reply from the rate-limit script'), null)
        return
      }
      const [total, ttl] = result
      for (const [i, w] of group.entries()) w.cb(null, { current: total - group.length + i + 1, ttl })
    })
  }

  return {
    incr(key, cb, timeWindow) {
      const full = prefix + key
      let state = keys.get(full)
      if (!state) {
        state = { busy: false, waiting: [] }
        keys.set(full, state)
      }
      state.waiting.push({ cb, timeWindow })
      if (!state.busy) send(full, state)
    },
  }
}

/** A store class for @fastify/rate-limit's `store` option, counting in `redis` under `nameSpace`. */
export function coalescingRedisStore(redis: Redis, nameSpace: string): FastifyRateLimitStoreCtor {
  class CoalescingRedisStore {
    private readonly counter: CoalescingCounter

    constructor(
      options: RateLimitStoreOptions,
      private readonly prefix = nameSpace,
    ) {
      // These change the TTL per request; their counting is not the one implemented here.
      if (options.continueExceeding || options.exponentialBackoff) {
        throw new Error('the coalescing rate-limit store supports neither continueExceeding nor exponentialBackoff')
      }
      this.counter = createCoalescingCounter(redis, prefix)
    }

    incr(key: string, cb: RateCountCallback, timeWindow: number): void {
      this.counter.incr(key, cb, timeWindow)
    }

    child(routeOptions: RateLimitStoreOptions & { routeInfo: { method: string; url: string } }) {
      return new CoalescingRedisStore(
        routeOptions,
        `${this.prefix}${routeOptions.routeInfo.method}${routeOptions.routeInfo.url}-`,
      )
    }
  }
  // The plugin calls incr(key, cb, timeWindow, max) and child(mergedRouteParams); its typings name neither.
  return CoalescingRedisStore as unknown as FastifyRateLimitStoreCtor
}
