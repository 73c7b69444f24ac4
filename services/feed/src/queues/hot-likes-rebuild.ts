import type { Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import { createPeriodicJob } from '@platform/service'
import { lockAllLikes } from '../projections/hot-likes-lock.js'
import { forEachWindowLike } from '../projections/select-window-likes.js'
import type { HotLikes } from '../timelines/hot-likes.js'
import { HOT_BUCKET_TTL_HOURS } from '../timelines/keys.js'

export interface HotLikesRebuildOptions {
  sql: Sql
  hotLikes: HotLikes
  logger: Logger
  /** How often the worker looks for lost buckets (one Redis EXISTS); FEED_HOT_REBUILD_CHECK_MS. */
  intervalMs: number
  /** Likes per cursor page and Redis pipeline. */
  pageSize?: number
  now?: () => Date
}

export interface HotLikesRebuildReport {
  /** Likes of the window read from `likes`. */
  likes: number
  /** Net change of the buckets' scores: the likes Redis had lost. */
  restored: number
  ms: number
}

/** A progress line every this many likes: a rebuild of a busy day's likes takes a while. */
const PROGRESS_EVERY = 100_000

/**
 * The hot feed's like buckets rebuilt from `likes` after Redis lost them (docs/feed.md#hot-feed). The buckets live
 * only in Redis; without this a flushed or restarted Redis would leave the hot feed empty, or ranked by the likes
 * made since, for a whole day. The marker hotBucketsCompleteKey says the buckets are whole: the worker checks it
 * every FEED_HOT_REBUILD_CHECK_MS and at start, and when it is gone, reconciles every like of the window (the
 * likes handler's own operation, so a like counts once however often it is written) and sets it again.
 *
 * One worker at a time: the rebuild holds the buckets' lock alone (projections/hot-likes-lock.ts) in one
 * transaction, from before its read of `likes` to after its last Redis write, so the likes handlers (which hold it
 * shared) wait and then reconcile against the likes table as it is after the rebuild's read. A second worker that
 * waited for the lock finds the marker set and does nothing (or, in the moment between the first one's commit and
 * its marker, rebuilds once more: harmless). A crash midway leaves no marker: the next check rebuilds again.
 */
export function createHotLikesRebuild(options: HotLikesRebuildOptions) {
  const { sql, hotLikes, logger } = options
  const pageSize = options.pageSize ?? 1000
  const now = options.now ?? (() => new Date())

  /** Rebuilds the buckets if they are not whole; undefined when they were (or another worker just did it). */
  async function runOnce(): Promise<HotLikesRebuildReport | undefined> {
    if (await hotLikes.isComplete()) return undefined
    const started = performance.now()
    const report = await sql.begin(async (tx) => {
      // The read of a busy day's likes outlasts one statement's deadline; the transaction ends with the rebuild.
      await tx`set local statement_timeout = '10min'`
      await lockAllLikes(tx)
      if (await hotLikes.isComplete()) return undefined // another worker rebuilt them while this one waited
      const at = now()
      // The window's 24 hours and the one before, which the reconcile keeps too (hot-likes.ts).
      const since = new Date(at.getTime() - HOT_BUCKET_TTL_HOURS * 3_600_000)
      logger.info({ since }, 'hot feed: like buckets missing in Redis; rebuilding them from likes')
      let likes = 0
      let restored = 0
      await forEachWindowLike(tx, since, pageSize, async (page) => {
        restored += await hotLikes.reconcileMany(page, at)
        const before = likes
        likes += page.length
        if (Math.floor(likes / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY))
          logger.info({ likes, restored }, 'hot feed: rebuilding the like buckets')
      })
      return { likes, restored }
    })
    if (!report) return undefined
    // After the commit, not before: a connection lost during the read may end postgres.js's cursor iterator early
    // without an error (porsager/postgres#1166), and then the commit is what fails, leaving no marker.
    await hotLikes.markComplete()
    const ms = Math.round(performance.now() - started)
    logger.info({ ...report, ms }, 'hot feed: like buckets rebuilt from likes')
    return { ...report, ms }
  }

  const job = createPeriodicJob({
    name: 'hot feed bucket rebuild',
    run: runOnce,
    intervalMs: options.intervalMs,
    logger,
  })
  return { runOnce, start: () => job.start(), stop: () => job.stop() }
}

export type HotLikesRebuild = ReturnType<typeof createHotLikesRebuild>
