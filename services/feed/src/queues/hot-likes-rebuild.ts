import { randomUUID } from 'node:crypto'
import type { Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import type { Counter, Gauge } from '@platform/metrics'
import { createPeriodicJob } from '@platform/service'
import { lockHotBuckets, withRebuildLock } from '../projections/hot-likes-lock.js'
import { forEachWindowLike } from '../projections/select-window-likes.js'
import type { HotLikes } from '../timelines/hot-likes.js'
import { HOT_WINDOW_HOURS, hourOf } from '../timelines/keys.js'

export interface HotLikesRebuildOptions {
  sql: Sql
  hotLikes: HotLikes
  logger: Logger
  /** How often the worker looks for lost buckets (one Redis EXISTS); FEED_HOT_REBUILD_INTERVAL_MS. */
  intervalMs: number
  /** feed_hot_bucket_rebuilds_total{result}: `ok`, or `error` (failed, or Redis lost the buckets during it). */
  rebuilds?: Counter<'result'>
  /** feed_hot_buckets_complete: 1 when the last check found the marker, 0 when not (FeedHotBucketsIncomplete). */
  bucketsComplete?: Gauge
  /** Likes per cursor page and Redis pipeline. */
  pageSize?: number
  now?: () => Date
}

export interface HotLikesRebuildReport {
  /** Likes of the window read from `likes`. */
  likes: number
  /** Net change in likes counted in the buckets: the likes Redis had lost (0 when it lost the token). */
  restored: number
  /** Whether the buckets were replaced and the marker set: false when Redis lost the rebuild's token meanwhile (the
   * next check rebuilds). */
  complete: boolean
  ms: number
}

/** A progress line every this many likes: a rebuild of a busy day's likes takes a while. */
const PROGRESS_EVERY = 100_000
const WARN_EVERY_MS = 60_000

/**
 * The hot feed's like buckets rebuilt from `likes` after Redis lost them (docs/feed.md#hot-feed). The buckets live
 * only in Redis; without this a flushed or restarted Redis would leave the hot feed empty, or ranked by the likes
 * made since, for a whole day. The marker (keys.ts HOT_BUCKETS_COMPLETE_KEY) says the buckets are whole: the
 * worker checks it at start and every FEED_HOT_REBUILD_INTERVAL_MS, and when it is gone, counts every like of the
 * window in its hour's bucket. It writes copies of the buckets (hot-likes.ts restoreMany), starting from nothing, and
 * swaps them in at the end (swapRebuilt): whatever Redis kept of the old ones is not counted twice, and the hot feed
 * ranks by them until the swap. Redis holds both for the time of a rebuild.
 *
 * - One worker at a time: the rebuild's session lock (projections/hot-likes-lock.ts), tried, held until the marker
 *   is set; the other workers skip their check meanwhile.
 * - No handler write between the rebuild's read and its swap: the rebuild holds the buckets' lock alone in one
 *   transaction from before its read of `likes` to after the swap; the likes handlers, which try it shared, go to
 *   their retry tier meanwhile and then reconcile against `likes` as it is. A rebuild longer than their retry budget
 *   (FEED_WORKER_MAX_ATTEMPTS; ~32 minutes by default, 70-90 million likes at the measured rates) sends the rest to the
 *   `feed.likes` DLQ, from which they are moved back (docs/runbooks/feed.md#feedhotbucketsincomplete).
 * - The marker only over whole buckets: set after the commit (a connection lost during the read may end
 *   postgres.js's cursor early without an error, porsager/postgres#1166; then the commit is what fails), and the
 *   swap and the marker only if the rebuild's token is still in Redis (a Redis emptied during the rebuild lost it
 *   and the copies with it).
 * - A crash midway leaves no marker: the next check, on any worker, rebuilds again.
 */
export function createHotLikesRebuild(options: HotLikesRebuildOptions) {
  const { sql, hotLikes, logger, rebuilds, bucketsComplete } = options
  const pageSize = options.pageSize ?? 1000
  const now = options.now ?? (() => new Date())
  let warnedAt = 0

  /** Whether the buckets are whole; true while Redis does not answer (nothing to rebuild into), with a warning. */
  async function whole(): Promise<boolean> {
    try {
      const found = await hotLikes.isComplete()
      bucketsComplete?.set(found ? 1 : 0)
      return found
    } catch (err) {
      if (Date.now() - warnedAt > WARN_EVERY_MS) {
        warnedAt = Date.now()
        logger.warn({ err }, 'hot feed: Redis did not answer the bucket check; checking again at the next interval')
      }
      return true
    }
  }

  async function rebuild(): Promise<HotLikesRebuildReport> {
    const started = performance.now()
    const token = randomUUID()
    await hotLikes.beginRebuild(token)
    let at: Date | undefined
    let swapped = false
    try {
      const result = await rebuildUnderLock(token, (t) => {
        at = t
      })
      swapped = result.swapped
      const { reason, ...counts } = result
      const complete = swapped && (await hotLikes.markComplete(token))
      const ms = Math.round(performance.now() - started)
      if (complete) logger.info({ ...counts, ms }, 'hot feed: like buckets rebuilt from likes')
      else if (reason === 'copy incomplete')
        logger.warn(
          { ...counts, ms },
          'hot feed: Redis evicted part of the rebuilt buckets before the swap; rebuilding again',
        )
      else
        logger.warn({ ...counts, ms }, 'hot feed: Redis lost the buckets again during their rebuild; rebuilding again')
      return { likes: counts.likes, restored: counts.restored, complete, ms }
    } finally {
      // A rebuild that failed or was refused leaves its copies: dropped now, not left to their expiry (a rebuild
      // failing every 10 s would otherwise pile up copies of the whole window).
      if (!swapped && at) await hotLikes.dropCopies(token, at).catch(() => {})
    }
  }

  /** The transaction of a rebuild: the lock, the read into the copies, the swap. */
  function rebuildUnderLock(token: string, started: (at: Date) => void) {
    return sql.begin(async (tx) => {
      await lockHotBuckets(tx)
      // The cursor is one statement, read page by page between Redis writes: a busy day's likes take longer than
      // DB_STATEMENT_TIMEOUT_MS (measured: 35,000-47,000 likes/s, docs/feed.md#hot-feed). An hour bounds a stuck one.
      await tx`set local statement_timeout = '1h'`
      const at = now()
      started(at)
      // The window's 25 hour buckets: the 24 the ranking reads and the one before (hot-likes.ts reconcile).
      const since = new Date((hourOf(at) - HOT_WINDOW_HOURS) * 3_600_000)
      logger.info({ since }, 'hot feed: like buckets missing in Redis; rebuilding them from likes')
      let likes = 0
      const counted = new Map<number, number>()
      await forEachWindowLike(tx, since, pageSize, async (page) => {
        await hotLikes.restoreMany(token, page, counted, at)
        const before = likes
        likes += page.length
        if (Math.floor(likes / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY))
          logger.info({ likes }, 'hot feed: rebuilding the like buckets')
      })
      // The connection must still be there: a connection lost during the read may have ended the cursor early
      // without an error (above), and the swap would then put partial copies in place, with the lock gone.
      await tx`select 1`
      const swap = await hotLikes.swapRebuilt(token, counted, at)
      return { likes, ...swap }
    })
  }

  /**
   * Rebuilds the buckets if they are not whole; undefined when they were, or another worker is rebuilding them.
   * `force`: whatever the marker says, waiting for a rebuild under way to end first (the seed, after writing likes).
   */
  async function runOnce(options: { force?: boolean } = {}): Promise<HotLikesRebuildReport | undefined> {
    const force = options.force ?? false
    if (!force && (await whole())) return undefined
    return withRebuildLock(sql, { wait: force }, async () => {
      // Another worker may have rebuilt them between the check and the lock.
      if (!force && (await hotLikes.isComplete())) return undefined
      try {
        const report = await rebuild()
        rebuilds?.inc({ result: report.complete ? 'ok' : 'error' })
        bucketsComplete?.set(report.complete ? 1 : 0)
        return report
      } catch (error) {
        rebuilds?.inc({ result: 'error' })
        throw error
      }
    })
  }

  const job = createPeriodicJob({
    name: 'hot feed bucket rebuild',
    run: () => runOnce(),
    intervalMs: options.intervalMs,
    logger,
  })
  return { runOnce, start: () => job.start(), stop: () => job.stop() }
}

export type HotLikesRebuild = ReturnType<typeof createHotLikesRebuild>
