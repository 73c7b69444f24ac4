import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { ProblemError } from '@platform/http'
import type { Logger } from '@platform/logging'
import { execPipeline, type Redis } from '../timelines/scripts.js'
import type { FeedMetrics } from './feed-metrics.js'

/**
 * The hot feed's cache-aside with a stampede guard (docs/feed.md#hot-feed). A ranking is computed into a *snapshot*:
 * a Redis list `[header, item 1, item 2, ...]` of ready JSON items under a snapshot id of its own, which pages read
 * by offset and which lives `snapshotTtlMs` after its last read. Two small keys name the current one:
 *
 *   - the pointer: the current snapshot's id, kept as long as a snapshot lives (the version served while stale);
 *   - the fresh marker: the same id, kept `freshTtlMs` (the cache TTL): its absence means "recompute".
 *
 * A page is ONE Redis round trip, the first one included (PAGE_SCRIPT: pointer and marker, the snapshot's new
 * expiry, its header, the LRANGE). When the marker is gone, exactly one instance recomputes: it takes a lock with a
 * lease (SET NX PX), writes the new snapshot and the two keys, and releases the lock with a compare-and-delete
 * script, so an instance whose lease ran out never deletes the lock of the next holder. Inside a process one
 * in-flight promise does it for every request (coalescing). The other requests serve the previous snapshot at once
 * (stale-while-revalidate); only when there is none at all (the first request, or Redis lost it) they wait for the
 * holder's snapshot, polling, at most `waitMs`.
 */
export interface HotCacheKeys {
  pointer: string
  fresh: string
  lock: string
  /** keys.ts hotSnapshotKey: the snapshot's key is its prefix and the id (the page script joins them). */
  snapshot(id: string): string
}

export interface HotCacheOptions {
  redis: Redis
  keys: HotCacheKeys
  /** How long a snapshot is served as current before one instance recomputes it (the cache TTL). */
  freshTtlMs: number
  /** How long a snapshot lives after its last page read: the time a client has to scroll on. */
  snapshotTtlMs: number
  /** The lock's lease: longer than any recompute, so it only runs out when its holder died or hangs. */
  leaseMs: number
  /** How long a request with no snapshot at all waits for another instance's recompute before a 503. */
  waitMs: number
  /** The ranking, as ready JSON texts of the items in rank order. */
  compute(): Promise<string[]>
  metrics: FeedMetrics
  logger: Logger
}

export interface SnapshotPage {
  snapshotId: string
  /** When the snapshot's ranking was computed. */
  computedAt: string
  /** JSON texts of the items from the offset asked for, at most `count`. */
  items: string[]
  /** Whether the snapshot holds items after these. */
  more: boolean
}

/** What a snapshot's list holds first: the ranking's metadata (always there, so an empty ranking exists too). */
interface SnapshotHeader {
  computed_at: string
  size: number
}

// The page of a snapshot in one round trip. KEYS[1] pointer, KEYS[2] fresh marker. ARGV: the snapshot keys' full
// prefix (keys.ts hotSnapshotKey('') behind the client's REDIS_PREFIX), the snapshot id ('' = the current one),
// the first and last list index, the snapshot lifetime (ms). The one feed script that makes a key from a value (the
// pointer's): the snapshot shares the pointer's hash tag ({hot}), so it is on the same Redis Cluster slot.
// Returns nil without a current snapshot, {id, fresh} for a snapshot that is gone, {id, fresh, header, items...}.
const PAGE_SCRIPT = `
local id = ARGV[2]
local fresh = 1
if id == '' then
  id = redis.call('GET', KEYS[1])
  if not id then return nil end
  if redis.call('GET', KEYS[2]) ~= id then fresh = 0 end
end
local key = ARGV[1] .. id
if redis.call('PEXPIRE', key, ARGV[5]) == 0 then return {id, fresh} end
local reply = {id, fresh, redis.call('LINDEX', key, 0)}
for _, item in ipairs(redis.call('LRANGE', key, ARGV[3], ARGV[4])) do reply[#reply + 1] = item end
return reply
`

// Deletes a key only if it still holds this value: the lock of this holder (its lease may have run out and another
// taken it), the fresh marker of a snapshot that is gone (and not of the next one).
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

type ScriptClient = Redis & {
  feedHotPage(pointer: string, fresh: string, ...args: (string | number)[]): Promise<(string | number)[] | null>
  feedHotRelease(lock: string, token: string): Promise<number>
}

/** How often a waiting request looks for the holder's snapshot. */
const POLL_MS = 25

/** Time-sortable and unique across instances; decodeHotCursor (feed-cursors.ts) accepts exactly this form. */
const newSnapshotId = () => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`

export const hotFeedUnavailable = (cause?: unknown) =>
  new ProblemError(503, {
    detail: 'The hot feed cannot be served right now; try again in a moment.',
    headers: { 'retry-after': '1' },
    ...(cause === undefined ? {} : { cause }),
  })

export function createHotCache(options: HotCacheOptions) {
  const { redis, keys, metrics, logger } = options
  const client = redis as ScriptClient
  if (!client.feedHotPage) redis.defineCommand('feedHotPage', { numberOfKeys: 2, lua: PAGE_SCRIPT })
  if (!client.feedHotRelease) redis.defineCommand('feedHotRelease', { numberOfKeys: 1, lua: RELEASE_SCRIPT })
  const snapshotPrefix = `${redis.options.keyPrefix ?? ''}${keys.snapshot('')}`
  let inflight: Promise<void> | undefined

  /**
   * One round trip: the items `[offset, offset + count)` of a snapshot (undefined: the current one). Undefined
   * without a current snapshot; `page` undefined when the snapshot is gone.
   */
  async function readPage(snapshotId: string | undefined, offset: number, count: number) {
    // Index 0 is the header; one item more than asked says whether there is more.
    const reply = await client.feedHotPage(
      keys.pointer,
      keys.fresh,
      snapshotPrefix,
      snapshotId ?? '',
      offset + 1,
      offset + count + 1,
      options.snapshotTtlMs,
    )
    if (reply === null) return undefined
    const [id, fresh, header, ...items] = reply as [string, number, string | undefined, ...string[]]
    const page: SnapshotPage | undefined =
      header === undefined
        ? undefined
        : {
            snapshotId: id,
            computedAt: (JSON.parse(header) as SnapshotHeader).computed_at,
            items: items.slice(0, count),
            more: items.length > count,
          }
    return { id, fresh: fresh === 1, page }
  }

  /** Computes and stores a new snapshot, and makes it current. Only the lock holder calls this. */
  async function recompute(): Promise<void> {
    const stop = metrics.hotRecomputeSeconds.startTimer()
    const items = await options.compute()
    const id = newSnapshotId()
    const header: SnapshotHeader = { computed_at: new Date().toISOString(), size: items.length }
    const key = keys.snapshot(id)
    const write = redis.multi().rpush(key, JSON.stringify(header))
    // RPUSH with every item in one command; in chunks so one command never carries too many arguments.
    for (let i = 0; i < items.length; i += 1000) write.rpush(key, ...items.slice(i, i + 1000))
    await execPipeline(
      write
        .pexpire(key, options.snapshotTtlMs)
        // The pointer lives as long as a snapshot unread since now: it never names a snapshot that is gone.
        .set(keys.pointer, id, 'PX', options.snapshotTtlMs)
        .set(keys.fresh, id, 'PX', options.freshTtlMs),
    )
    stop()
    metrics.hotRecomputes.inc({ result: 'ok' })
  }

  /**
   * Makes sure a fresh snapshot exists or is on its way: takes the lock and recomputes, or, when another instance
   * holds it, waits (bounded) until its snapshot is current. A holder that died leaves its lock until the lease
   * runs out; the waiters then try to take it themselves.
   */
  async function refresh(): Promise<void> {
    const deadline = Date.now() + options.waitMs
    let waited = false
    for (;;) {
      const token = randomBytes(16).toString('hex')
      if ((await redis.set(keys.lock, token, 'PX', options.leaseMs, 'NX')) === 'OK') {
        try {
          // Another instance may have finished between our miss and our lock.
          if ((await redis.exists(keys.fresh)) === 1) return
          await recompute()
        } catch (error) {
          metrics.hotRecomputes.inc({ result: 'error' })
          throw error
        } finally {
          await client.feedHotRelease(keys.lock, token).catch((err: unknown) => {
            logger.warn({ err }, 'hot feed: releasing the lock failed; its lease ends it')
          })
        }
        return
      }
      if (!waited) metrics.hotLockWaits.inc()
      waited = true
      // Someone else recomputes: wait for its snapshot, or for its lock to go (done, or its lease ran out).
      while (Date.now() < deadline) {
        await sleep(POLL_MS)
        const [fresh, lock] = await redis.mget(keys.fresh, keys.lock)
        if (fresh !== null) return
        if (lock === null) break
      }
      if (Date.now() >= deadline) throw hotFeedUnavailable()
    }
  }

  /** One refresh per process at a time: every request that needs one shares the in-flight promise. */
  function refreshOnce(): Promise<void> {
    inflight ??= refresh().finally(() => {
      inflight = undefined
    })
    return inflight
  }

  return {
    /**
     * A page of the current snapshot, or of the one a cursor names. Without a snapshot id: a fresh current snapshot
     * is a hit; a stale one is served at once while a refresh runs in the background (a hit too: it is the cache's
     * answer); none at all waits for the refresh (a miss). A named snapshot that expired is undefined (the route's
     * 410).
     */
    async page(snapshotId: string | undefined, offset: number, count: number): Promise<SnapshotPage | undefined> {
      const read = await readPage(snapshotId, offset, count)
      if (snapshotId !== undefined) return read?.page
      if (read?.page) {
        metrics.cacheRequests.inc({ cache: 'hot', result: 'hit' })
        if (!read.fresh) {
          refreshOnce().catch((err: unknown) => logger.warn({ err }, 'hot feed: background recompute failed'))
        }
        return read.page
      }
      // No snapshot at all, or the pointer names one Redis evicted: wait for the one being computed (in the second
      // case the marker goes first, compare-and-delete, so that the refresh does not find it fresh and stop).
      metrics.cacheRequests.inc({ cache: 'hot', result: 'miss' })
      if (read) await client.feedHotRelease(keys.fresh, read.id)
      await refreshOnce()
      const computed = (await readPage(undefined, offset, count))?.page
      if (!computed) throw hotFeedUnavailable()
      return computed
    },

    /** Recomputes under the lock, as a miss does (a warm-up, tests). */
    refresh: refreshOnce,
  }
}

export type HotCache = ReturnType<typeof createHotCache>
