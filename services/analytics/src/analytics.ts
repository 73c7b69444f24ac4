import type { ServiceApp } from '@platform/http'
import { createInbox } from '@platform/inbox'
import type { ServiceRuntime } from '@platform/service'
import type { Config } from './config.js'
import { registerDashboard } from './dashboard/dashboard-routes.js'
import { startActivityConsumers } from './events/activity-consumer.js'
import { registerEventsRoute } from './events/events-route.js'
import { createIngestion } from './events/ingestion.js'
import { createPartitions } from './events/partitions.js'
import { analyticsMetrics } from './metrics.js'
import { createAnalyticsRepository } from './queries/analytics-repository.js'
import { registerAnalyticsRoutes } from './queries/routes.js'
import { hasSketches } from './rollup/rollup.js'

export interface AnalyticsOptions {
  app: ServiceApp
  runtime: ServiceRuntime<boolean>
  config: Config
  /** false: tests run the partition maintenance themselves (it still runs once at start). */
  maintenanceJob?: boolean
}

/**
 * The analytics features, wired onto the app (docs/analytics.md): the events' partitions (made before anything is
 * stored), the two ways in (POST /v1/events and the activity consumer), the read API and the dashboard. Their
 * stops are onClose hooks, which run before createService closes the connections.
 */
export async function startAnalytics(options: AnalyticsOptions) {
  const { app, config } = options
  const { sql, broker, logger, registry } = options.runtime
  const metrics = analyticsMetrics(registry, sql)
  const inbox = createInbox(sql, 'analytics.activity')
  const partitions = createPartitions({
    sql,
    schema: config.DB_SCHEMA,
    logger,
    maxEventAgeDays: config.ANALYTICS_MAX_EVENT_AGE_DAYS,
    lookaheadMonths: config.ANALYTICS_PARTITION_LOOKAHEAD_MONTHS,
    retentionMonths: config.ANALYTICS_EVENTS_RETENTION_MONTHS,
    inbox,
  })
  await partitions.runOnce()
  if (options.maintenanceJob !== false) partitions.start(config.ANALYTICS_MAINTENANCE_INTERVAL_MS)
  app.addHook('onClose', () => partitions.stop())

  // The weekly and monthly estimates need the hll extension, which this database may not have (migration 0003).
  const sketches = await hasSketches(sql)
  if (!sketches) logger.info('analytics: no hll extension; weekly and monthly estimates are off (exact counts are on)')
  const ingestion = createIngestion({
    sql,
    schema: config.DB_SCHEMA,
    partitions,
    metrics,
    logger,
    inbox,
    maxEventAgeDays: config.ANALYTICS_MAX_EVENT_AGE_DAYS,
    maxFutureSkewS: config.ANALYTICS_MAX_FUTURE_SKEW_S,
    sketches,
  })
  await registerEventsRoute(app, {
    ingestion,
    token: config.ANALYTICS_INGEST_TOKEN,
    bodyLimit: config.ANALYTICS_EVENTS_BODY_LIMIT_BYTES,
  })
  await registerAnalyticsRoutes(app, createAnalyticsRepository(sql), {
    sketches,
    readToken: config.ANALYTICS_READ_TOKEN,
  })
  await registerDashboard(app)

  const { singles, batches } = startActivityConsumers({
    broker,
    logger,
    registry,
    ingestion,
    batchRows: config.ANALYTICS_CONSUMER_BATCH_ROWS,
    batchWaitMs: config.ANALYTICS_CONSUMER_BATCH_WAIT_MS,
    prefetch: config.ANALYTICS_CONSUMER_PREFETCH,
    batchPrefetch: config.ANALYTICS_BATCH_CONSUMER_PREFETCH,
    batchConcurrency: config.ANALYTICS_BATCH_CONSUMER_CONCURRENCY,
  })
  const all = [singles, ...batches]
  options.runtime.readiness.activityConsumer = () => singles.progress.check()
  options.runtime.readiness.activityBatchConsumer = () => {
    for (const b of batches) b.progress.check()
  }
  app.addHook('onClose', () => Promise.all(all.map((c) => c.stop())).then(() => undefined))
  return { partitions, ingestion, ready: () => Promise.all(all.map((c) => c.ready())) }
}
