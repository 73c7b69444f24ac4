import { buildServiceApp } from '@platform/http'
import { createServiceRuntime, runWorker, startService } from '@platform/service'
import { loadServiceConfig } from './config.js'
import { startFeedWorker } from './queues/feed-worker.js'

/**
 * The feed worker: the query side of the feed (docs/feed.md#fan-out-worker), its own process beside the API
 * (server.ts), so each scales on its own. No API routes; it consumes the feed's events, writes user_feed and the
 * Redis timelines, and publishes its follower batches through the outbox. `npm start` runs it
 * (infra/scripts/run-all.ts); in docker-compose it is the `feed-worker` service (node services/feed/dist/worker.js).
 * It answers /metrics, /health/live and /health/ready (its dependencies and each consumer's progress) on
 * FEED_WORKER_PORT, for Prometheus and the orchestrator's probes.
 */
startService(async () => {
  const config = loadServiceConfig()
  const runtime = await createServiceRuntime({
    service: 'feed-worker',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    redis: true,
  })
  await runWorker({
    runtime,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    async start() {
      const worker = await startFeedWorker({ runtime, config })
      for (const consumer of worker.consumers) runtime.readiness[consumer.queue] = () => consumer.progress.check()
      const probes = await buildServiceApp({
        service: 'feed-worker',
        config,
        logger: runtime.logger,
        registry: runtime.registry,
        readiness: runtime.readiness,
        rateLimit: false,
      })
      const url = await probes.listen({ port: config.FEED_WORKER_PORT, host: config.HOST })
      runtime.logger.info({ url }, 'metrics and health probes listening')
      return {
        async stop() {
          await probes.close()
          await worker.stop()
        },
      }
    },
  })
})
