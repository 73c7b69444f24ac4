import type { Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import type { Config } from '../config.js'
import type { HotLikes } from '../timelines/hot-likes.js'
import type { TimelineStore } from '../timelines/timeline-store.js'
import type { WorkerMetrics } from './worker-metrics.js'

/** What the worker reads of the configuration (config.ts). */
export type WorkerConfig = Pick<
  Config,
  | 'FANOUT_MAX_FOLLOWERS'
  | 'FEED_FANOUT_BATCH_SIZE'
  | 'FEED_TIMELINE_SIZE'
  | 'FEED_ACTIVE_DAYS'
  | 'FEED_BACKFILL_POSTS'
  | 'FEED_WORKER_RETRY_DELAYS_MS'
  | 'FEED_WORKER_MAX_ATTEMPTS'
  | 'FEED_RETENTION_DAYS'
  | 'FEED_RETENTION_PRUNE_INTERVAL_MS'
  | 'FEED_HOT_REBUILD_INTERVAL_MS'
>

/** What every processor (one file each in processors/) is given. */
export interface WorkerDeps {
  sql: Sql
  store: TimelineStore
  hotLikes: HotLikes
  metrics: WorkerMetrics
  logger: Logger
  config: WorkerConfig
  /** The clock of the lag metric and the hot buckets (tests fix it). */
  now: () => Date
}
