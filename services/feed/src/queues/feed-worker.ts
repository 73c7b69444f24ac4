import {
  exchanges,
  FollowEventV1,
  feedFanoutBatchConsumer,
  feedFanoutConsumer,
  feedFollowsConsumer,
  feedLikesConsumer,
  LikeEventV1,
} from '@platform/contracts'
import { type ConsumerDef, declareExchanges, defineConsumer, startConsumer } from '@platform/messaging'
import type { ServiceRuntime } from '@platform/service'
import { createHotLikes } from '../timelines/hot-likes.js'
import { createTimelineStore } from '../timelines/timeline-store.js'
import { createHotLikesRebuild } from './hot-likes-rebuild.js'
import { createFanoutBatchProcessor } from './processors/fanout-batch.js'
import { createFollowsProcessor } from './processors/follows.js'
import { createLikesProcessor } from './processors/likes.js'
import { createPostCreatedProcessor } from './processors/post-created.js'
import { createReadModelRetention } from './read-model-retention.js'
import type { WorkerConfig, WorkerDeps } from './worker-deps.js'
import { workerMetrics } from './worker-metrics.js'

export interface FeedWorkerOptions {
  runtime: ServiceRuntime<true>
  config: WorkerConfig
  now?: () => Date
}

/** A catalog consumer with the worker's configured retry tiers (tests shorten them). */
function withRetry<D extends ConsumerDef>(def: D, config: WorkerConfig): D {
  const delaysMs = config.FEED_WORKER_RETRY_DELAYS_MS.split(',').map(Number)
  return defineConsumer({ ...def, retry: { delaysMs, maxAttempts: config.FEED_WORKER_MAX_ATTEMPTS } }) as D
}

/**
 * The feed worker's consumers (docs/feed.md#fan-out-worker), on the runtime's connections: the fan-out's two
 * stages, follows and likes. Each queue has the platform's retry tiers and DLQ; its readiness is the consumer's
 * progress. Beside them two periodic jobs: the read model's retention and the hot buckets' rebuild. The runtime's
 * outbox relay publishes the follower batches stage 1 enqueues. Returns what stops them.
 */
export async function startFeedWorker(options: FeedWorkerOptions) {
  const { runtime, config } = options
  const { sql, broker, logger, registry, redis } = runtime
  // The relay publishes the batches to `feed`; it must exist before the first row is published.
  await runtime.publisher.channel.addSetup((ch: Parameters<typeof declareExchanges>[0]) =>
    declareExchanges(ch, [exchanges.feed]),
  )
  const fanoutDef = withRetry(feedFanoutConsumer, config)
  const deps: WorkerDeps = {
    sql,
    store: createTimelineStore(redis, { size: config.FEED_TIMELINE_SIZE, activeDays: config.FEED_ACTIVE_DAYS }),
    hotLikes: createHotLikes(redis),
    metrics: workerMetrics(registry),
    logger,
    config,
    now: options.now ?? (() => new Date()),
  }
  const consumers = [
    startConsumer(broker, { def: fanoutDef, logger, registry, handler: createPostCreatedProcessor(deps) }),
    startConsumer(broker, {
      def: withRetry(feedFanoutBatchConsumer, config),
      logger,
      registry,
      handler: createFanoutBatchProcessor(deps),
    }),
    startConsumer<FollowEventV1>(broker, {
      def: withRetry(feedFollowsConsumer, config),
      schema: FollowEventV1,
      logger,
      registry,
      handler: createFollowsProcessor(deps),
    }),
    startConsumer<LikeEventV1>(broker, {
      def: withRetry(feedLikesConsumer, config),
      schema: LikeEventV1,
      logger,
      registry,
      handler: createLikesProcessor(deps),
    }),
  ]
  await Promise.all(consumers.map((c) => c.ready()))
  const queues = [fanoutDef, feedFanoutBatchConsumer, feedFollowsConsumer, feedLikesConsumer].map((d) => d.queue)

  const retention = createReadModelRetention({
    sql,
    logger,
    retentionDays: config.FEED_RETENTION_DAYS,
    intervalMs: config.FEED_RETENTION_PRUNE_INTERVAL_MS,
  })
  retention.start()
  const hotRebuild = createHotLikesRebuild({
    sql,
    hotLikes: deps.hotLikes,
    logger,
    intervalMs: config.FEED_HOT_REBUILD_INTERVAL_MS,
    rebuilds: deps.metrics.hotRebuilds,
    bucketsComplete: deps.metrics.hotBucketsComplete,
  })
  hotRebuild.start()

  return {
    /** Each consumer with its queue: readiness names them (worker.ts). */
    consumers: consumers.map((consumer, i) => ({ queue: queues[i] as string, progress: consumer.progress })),
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()))
      await Promise.all([retention.stop(), hotRebuild.stop()])
    },
  }
}
