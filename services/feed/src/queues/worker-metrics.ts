import { counter, gauge, histogram, type Registry } from '@platform/metrics'

/**
 * The fan-out worker's own metrics (docs/feed.md#fan-out-worker); its consumers add consumer_messages_total,
 * consumer_handler_duration_seconds and consumer_in_flight by queue, and the outbox relay its own.
 */
export function workerMetrics(registry: Registry) {
  const metrics = {
    /**
     * From the post's creation (the command's commit time, PostCreatedV1.createdAt) to its entries being written
     * for a batch of followers (PostgreSQL and Redis), or to its large account's list (path="pull"). The consistency
     * window of the personal feed: its p99 is what docs/feed.md states.
     */
    lag: histogram(
      registry,
      'feed_fanout_lag_seconds',
      'Post creation to follower entries written, by path (push: fanned out, pull: a large account list)',
      ['path'],
      [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
    ),
    /** Handling time of one message, by what it was; the consumer's duration metric has it by queue. */
    processing: histogram(
      registry,
      'feed_worker_processing_seconds',
      'Time to handle one feed worker message, by handler',
      ['handler'],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    /** Feed entries written: rows new in user_feed, and timelines written in Redis (active users only). */
    entries: counter(registry, 'feed_entries_written_total', 'Feed entries written, by store and source', [
      'store',
      'source',
    ]),
    /** Follower batches enqueued by stage 1 of the fan-out. */
    batches: counter(registry, 'feed_fanout_batches_total', 'Fan-out follower batches enqueued'),
    /** Posts of large accounts, not fanned out (pull), and authors promoted to large. */
    pulls: counter(registry, 'feed_fanout_pull_posts_total', 'Posts of large accounts added to their lists only'),
    /** The hot buckets rebuilt from likes after Redis lost them (hot-likes-rebuild.ts), by result. */
    hotRebuilds: counter(registry, 'feed_hot_bucket_rebuilds_total', 'Hot-feed like buckets rebuilt from likes', [
      'result',
    ]),
    /**
     * 1 when the worker's last check found the buckets whole (their marker in Redis), 0 when not: it stays 0 through
     * a rebuild that hangs or keeps dying, which the rebuild counter above never sees end (FeedHotBucketsIncomplete).
     */
    hotBucketsComplete: gauge(
      registry,
      'feed_hot_buckets_complete',
      "1 when the hot feed's like buckets are known whole, 0 while they wait for or undergo a rebuild",
    ),
  }
  // At 0 from the start: FeedHotBucketRebuildFailing takes the increase, which a series born at 1 does not have.
  for (const result of ['ok', 'error']) metrics.hotRebuilds.inc({ result }, 0)
  return metrics
}

export type WorkerMetrics = ReturnType<typeof workerMetrics>

/** Times `work` into feed_worker_processing_seconds{handler}. */
export async function timed<T>(metrics: WorkerMetrics, handler: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  try {
    return await work()
  } finally {
    metrics.processing.observe({ handler }, (performance.now() - started) / 1000)
  }
}
