import { repeatWhileFull, type Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import { createPeriodicJob } from '@platform/service'
import { retentionStart } from '../posts/post-ids.js'
import { pruneFanoutJobs } from '../projections/prune-fanout-jobs.js'
import { pruneFeedEntries, readFeedPartitions } from '../projections/prune-feed-entries.js'

/** How long a finished fan-out job is kept (a redelivery or DLQ replay of its post.created finds it). */
export const FANOUT_JOB_RETENTION_DAYS = 7

export interface ReadModelRetentionOptions {
  sql: Sql
  logger: Logger
  /** FEED_RETENTION_DAYS: user_feed entries of posts older than this go. */
  retentionDays: number
  /** FEED_RETENTION_PRUNE_INTERVAL_MS. */
  intervalMs: number
  /** Rows per delete statement. */
  batchSize?: number
  now?: () => Date
}

export interface RetentionReport {
  feedEntries: number
  fanoutJobs: number
}

/**
 * What the worker deletes so its tables do not grow forever (docs/feed.md#retention): user_feed entries older than
 * FEED_RETENTION_DAYS (the personal feed reaches back that far; the page statement shows nothing older, whichever
 * path serves it) and fan-out jobs finished more than a week ago. Every FEED_RETENTION_PRUNE_INTERVAL_MS, a batch
 * per statement. Every worker may run it at once: the deletes are idempotent and do not clash.
 */
export function createReadModelRetention(options: ReadModelRetentionOptions) {
  const { sql, logger } = options
  const batch = options.batchSize ?? 5000
  const now = options.now ?? (() => new Date())
  let partitions: string[] | undefined

  const drain = (statement: () => Promise<number>) => repeatWhileFull(statement, batch)

  async function runOnce(): Promise<RetentionReport> {
    const before = retentionStart(options.retentionDays, now())
    partitions ??= await readFeedPartitions(sql)
    let feedEntries = 0
    for (const partition of partitions)
      feedEntries += await drain(() => pruneFeedEntries(sql, partition, before, batch))
    const fanoutJobs = await drain(() => pruneFanoutJobs(sql, FANOUT_JOB_RETENTION_DAYS, batch))
    if (feedEntries + fanoutJobs > 0) {
      logger.info({ feedEntries, fanoutJobs, before }, 'read model: old feed entries and finished fan-out jobs deleted')
    }
    return { feedEntries, fanoutJobs }
  }

  // A pass at start too: a worker restarted more often than the interval would otherwise never prune. With the
  // BRIN index a pass that finds nothing reads a few index pages per partition.
  const job = createPeriodicJob({ name: 'read model retention', run: runOnce, intervalMs: options.intervalMs, logger })
  return { runOnce, start: () => job.start(), stop: () => job.stop() }
}

export type ReadModelRetention = ReturnType<typeof createReadModelRetention>
