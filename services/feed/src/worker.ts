import { createServiceRuntime, runWorker, startService } from '@platform/service'
import { loadServiceConfig } from './config.js'
import { startFeedWorker } from './queues/feed-worker.js'

/**
 * The feed worker: the query side of the feed (docs/feed.md#fan-out-worker), its own process beside the API
 * (server.ts), so each scales on its own. No routes; it consumes the feed's events, writes user_feed and the Redis
 * timelines, and publishes its follower batches through the outbox. `npm start` runs it (infra/scripts/run-all.ts);
 * in docker-compose it is the `feed-worker` service (node services/feed/dist/worker.js).
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
    start: () => startFeedWorker({ runtime, config }),
  })
})
