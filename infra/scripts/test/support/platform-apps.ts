import { createTestClickHouseDatabase, type TestClickHouse } from '../../../../packages/eventlog/lib/testing.js'
import { buildServiceApp, registryOf, type ServiceApp } from '../../../../packages/http/index.js'
import { createServiceTestEnv, type ServiceTestEnv } from '../../../../packages/http/lib/testing.js'
import { describeMetrics, exposedMetrics, type MetricDescription } from '../../../../packages/metrics/index.js'
import { createServiceRuntime } from '../../../../packages/service/index.js'
import { waitFor } from '../../../../packages/testing/index.js'
import { buildApp as buildAnalytics } from '../../../../services/analytics/src/app.js'
import { loadServiceConfig as analyticsConfig } from '../../../../services/analytics/src/config.js'
import { buildApp as buildFeed } from '../../../../services/feed/src/app.js'
import { loadServiceConfig as feedConfig } from '../../../../services/feed/src/config.js'
import { startFeedWorker } from '../../../../services/feed/src/queues/feed-worker.js'
import { buildApp as buildIngest } from '../../../../services/ingest/src/app.js'
import { loadServiceConfig as ingestConfig } from '../../../../services/ingest/src/config.js'
import { buildApp as buildLogShipper } from '../../../../services/log-shipper/src/app.js'
import { loadServiceConfig as logShipperConfig } from '../../../../services/log-shipper/src/config.js'
import { buildApp as buildProcessor } from '../../../../services/processor/src/app.js'
import { loadServiceConfig as processorConfig } from '../../../../services/processor/src/config.js'
import { seriesNamesOf } from '../../lib/promql.js'

/**
 * The five services as their buildApp makes them, and the feed's worker as worker.ts starts it, in this process, each
 * in a schema, vhost and Redis prefix of its own (the log-shipper also in a ClickHouse database of its own): what the
 * observability tests read the services' registries from, and what the alerting test points a real Prometheus at.
 */
export const SERVICES = ['ingest', 'feed', 'feed-worker', 'analytics', 'processor', 'log-shipper'] as const
export type ServiceName = (typeof SERVICES)[number]

export interface PlatformApp {
  name: ServiceName
  app: ServiceApp
  env: ServiceTestEnv
  /** Every metric the service registered once ready (consumers and relays register theirs as they start). */
  metrics(): MetricDescription[]
  /** Closes the app (its consumers, relay and connections), keeping its schema, vhost and database: a stopped service. */
  stop(): Promise<void>
  /** Stops it and removes its environments. */
  close(): Promise<void>
}

const builders: Record<ServiceName, (env: Record<string, string>, clickhouse?: TestClickHouse) => Promise<ServiceApp>> =
  {
    ingest: (env) => buildIngest(ingestConfig(env), { retentionJob: false }),
    feed: (env) => buildFeed(feedConfig(env)),
    'feed-worker': (env) => buildFeedWorker(env),
    analytics: (env) => buildAnalytics(analyticsConfig(env)),
    processor: (env) => buildProcessor(processorConfig(env)),
    'log-shipper': (env, clickhouse) =>
      buildLogShipper({ ...logShipperConfig(env), CLICKHOUSE_DATABASE: clickhouse?.database ?? 'platform' }),
  }

/** The feed worker as services/feed/src/worker.ts runs it: its consumers, and its probes' app (what Prometheus scrapes). */
async function buildFeedWorker(env: Record<string, string>): Promise<ServiceApp> {
  const config = feedConfig(env)
  const runtime = await createServiceRuntime({
    service: 'feed-worker',
    config,
    migrations: new URL('../../../../services/feed/migrations/', import.meta.url),
    redis: true,
  })
  try {
    const worker = await startFeedWorker({ runtime, config })
    for (const consumer of worker.consumers) runtime.readiness[consumer.queue] = () => consumer.progress.check()
    const app = await buildServiceApp({
      service: 'feed-worker',
      config,
      logger: runtime.logger,
      registry: runtime.registry,
      readiness: runtime.readiness,
      rateLimit: false,
    })
    app.addHook('onClose', async () => {
      await worker.stop()
      await runtime.close()
    })
    return app
  } catch (error) {
    await runtime.close()
    throw error
  }
}

/** One service, ready (its consumers and relay running), in environments of its own. */
export async function startPlatformApp(
  name: ServiceName,
  overrides: Record<string, string> = {},
): Promise<PlatformApp> {
  const env = await createServiceTestEnv(name, { LOG_LEVEL: 'silent', ...overrides })
  const clickhouse = name === 'log-shipper' ? await createTestClickHouseDatabase('obs_shipper') : undefined
  let app: ServiceApp | undefined
  try {
    app = await builders[name](env.env, clickhouse)
    await app.ready()
    const ready = app
    await waitFor(async () => (await ready.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200, {
      timeoutMs: 30_000,
      message: `${name} ready`,
    })
  } catch (error) {
    await app?.close()
    await env.cleanup()
    await clickhouse?.drop()
    throw error
  }
  const started = app
  let stopped: Promise<void> | undefined
  let closed = false
  const stop = () => {
    stopped ??= started.close()
    return stopped
  }
  return {
    name,
    app: started,
    env,
    metrics() {
      const registry = registryOf(started)
      if (!registry) throw new Error(`${name}: the app serves no registry`)
      return describeMetrics(registry)
    },
    stop,
    async close() {
      if (closed) return
      closed = true
      await stop()
      await env.cleanup()
      await clickhouse?.drop()
    },
  }
}

/** Every service; they start one after the other, which keeps a loaded machine's migrations from timing out. */
export async function startPlatform(): Promise<PlatformApp[]> {
  const apps: PlatformApp[] = []
  try {
    for (const name of SERVICES) apps.push(await startPlatformApp(name))
  } catch (error) {
    await Promise.allSettled(apps.map((a) => a.close()))
    throw error
  }
  return apps
}

/** RabbitMQ's rabbitmq_prometheus endpoint (infra/scripts/ensure-infra.sh enables the plugin). */
export const RABBITMQ_PROMETHEUS_URL = process.env.RABBITMQ_PROMETHEUS_URL ?? 'http://127.0.0.1:15692'

/** The per-queue families infra/prometheus/prometheus.yml scrapes from /metrics/detailed. */
export const RABBITMQ_QUEUE_FAMILIES = ['queue_coarse_metrics', 'queue_consumer_count']

/**
 * Every series name RabbitMQ exports where Prometheus scrapes it: the node's /metrics and the per-queue families of
 * /metrics/detailed (their `# TYPE` lines are there even with no queue in the vhost asked for).
 */
export async function rabbitMQSeriesNames(): Promise<Set<string>> {
  const families = RABBITMQ_QUEUE_FAMILIES.map((f) => `family=${f}`).join('&')
  const texts = await Promise.all(
    [`${RABBITMQ_PROMETHEUS_URL}/metrics`, `${RABBITMQ_PROMETHEUS_URL}/metrics/detailed?${families}`].map(
      async (url) => {
        const res = await fetch(url)
        if (!res.ok) throw new Error(`${url}: ${res.status} (is the rabbitmq_prometheus plugin enabled?)`)
        return res.text()
      },
    ),
  )
  return new Set(texts.flatMap((text) => exposedMetrics(text).flatMap(seriesNamesOf)))
}
