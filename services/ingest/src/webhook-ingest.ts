import { exchanges, ingestStatusConsumer } from '@platform/contracts'
import { createCoalescingCounter, rateLimitNamespace, type ServiceApp } from '@platform/http'
import { createInbox } from '@platform/inbox'
import { declareExchanges, startConsumer } from '@platform/messaging'
import type { ServiceRuntime } from '@platform/service'
import { createBatchAcceptor } from './accept-batch.js'
import type { Config } from './config.js'
import { createEventsRepository } from './events-repository.js'
import { createGroupCommitter } from './group-commit.js'
import { ingestMetrics } from './metrics.js'
import { createRetention } from './retention.js'
import { registerWebhookRoutes } from './routes.js'

/** What the webhook work reads of ingest's configuration (config.ts, loaded once at start). */
export type WebhookConfig = Pick<
  Config,
  | 'sources'
  | 'WEBHOOK_RETENTION_DAYS'
  | 'WEBHOOK_RETENTION_INTERVAL_MS'
  | 'WEBHOOK_PARTITION_LOOKAHEAD_DAYS'
  | 'GROUP_COMMIT_MAX_BATCH'
  | 'GROUP_COMMIT_MAX_WAIT_MS'
  | 'GROUP_COMMIT_MAX_IN_FLIGHT'
  | 'GROUP_COMMIT_TIMEOUT_MS'
  | 'DB_SCHEMA'
  | 'ENVIRONMENT'
  | 'BODY_LIMIT_BYTES'
  | 'REDIS_PREFIX'
  | 'STALL_AFTER_MS'
>

export interface WebhookIngestOptions {
  app: ServiceApp
  /** Connections, registry, the publisher and outbox relay (started when the app is ready) from createService. */
  runtime: ServiceRuntime<boolean>
  config: WebhookConfig
  /** false: the test drives retention itself. */
  retentionJob?: boolean
}

/**
 * Everything ingest does with webhooks, wired onto the app: routes, group commit, the consumer of status messages
 * and the retention job (the runtime's outbox relay publishes what they enqueue). Teardown runs as onClose hooks,
 * after in-flight requests have finished.
 */
export async function startWebhookIngest(options: WebhookIngestOptions) {
  const { app, config } = options
  const { sql, broker, logger, registry, publisher } = options.runtime
  const { sources } = config
  // The relay publishes to these; they must exist before the first row is published.
  await publisher.channel.addSetup((ch: Parameters<typeof declareExchanges>[0]) =>
    declareExchanges(ch, [exchanges.webhooks, exchanges.eventlog]),
  )
  const metrics = ingestMetrics(registry)
  const repository = createEventsRepository(sql)
  const committer = createGroupCommitter({
    commit: createBatchAcceptor(sql, { service: 'ingest', environment: config.ENVIRONMENT }),
    maxBatch: config.GROUP_COMMIT_MAX_BATCH,
    maxWaitMs: config.GROUP_COMMIT_MAX_WAIT_MS,
    maxInFlight: config.GROUP_COMMIT_MAX_IN_FLIGHT,
    commitTimeoutMs: config.GROUP_COMMIT_TIMEOUT_MS,
    stallAfterMs: config.STALL_AFTER_MS,
    onBatch: (size, failed, seconds) => {
      metrics.batchSize.observe(size)
      metrics.batchDuration.observe(seconds)
      if (failed) metrics.batchFailures.inc()
    },
  })
  options.runtime.readiness.groupCommit = () => committer.progress.check()
  const retention = createRetention({
    sql,
    schema: config.DB_SCHEMA,
    logger,
    retentionDays: config.WEBHOOK_RETENTION_DAYS,
    lookaheadDays: config.WEBHOOK_PARTITION_LOOKAHEAD_DAYS,
    inboxConsumer: ingestStatusConsumer.queue,
  })
  // Before the first request: today's partition must exist even if the job has never run.
  await retention.ensurePartitions(new Date(Date.now() - 86_400_000), new Date(Date.now() + 86_400_000))

  const { redis } = options.runtime
  if (!redis) throw new Error("ingest counts its sources' rate limits in Redis: start its runtime with redis")
  await registerWebhookRoutes(app, {
    sources,
    repository,
    committer,
    metrics,
    bodyLimit: config.BODY_LIMIT_BYTES,
    rateCounter: createCoalescingCounter(redis, rateLimitNamespace(config.REDIS_PREFIX, redis)),
  })

  const def = ingestStatusConsumer
  const inbox = createInbox(sql, def.queue)
  const statusConsumer = startConsumer(broker, {
    def,
    logger,
    registry,
    handler: async (message) => {
      let applied = false
      const outcome = await inbox.process(message.messageId, async (tx) => {
        applied = await repository.applyStatus(tx, message.body)
      })
      metrics.statusUpdates.inc({ outcome: outcome.duplicate ? 'duplicate' : applied ? 'applied' : 'stale' })
    },
  })

  options.runtime.readiness.statusConsumer = () => statusConsumer.progress.check()
  if (options.retentionJob !== false) retention.start(config.WEBHOOK_RETENTION_INTERVAL_MS)
  app.addHook('onClose', async () => {
    await committer.flush()
    await retention.stop()
    await statusConsumer.stop()
  })
  return { sources, repository, committer, retention, statusConsumer, ready: () => statusConsumer.ready() }
}
