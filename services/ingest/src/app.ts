import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import type { Config } from './config.js'
import { ingestOpenApi } from './openapi.js'
import { startWebhookIngest } from './webhook-ingest.js'

export interface IngestOverrides extends ServiceOverrides {
  /** false: tests run the retention job themselves. */
  retentionJob?: boolean
}

/**
 * The ingest service receives webhooks from outside providers, verifies and records them, and publishes them as
 * events (docs/webhooks.md). Dependencies: postgres, rabbitmq, redis (the per-source rate limit). The webhook routes,
 * the outbox relay, the status consumer and the retention job stop in onClose hooks that run before the connections
 * createService opened are closed.
 */
export async function buildApp(config: Config, overrides: IngestOverrides = {}): Promise<ServiceApp> {
  const { retentionJob, ...serviceOverrides } = overrides
  const { app, runtime } = await createService({
    service: 'ingest',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    redis: true,
    openapi: ingestOpenApi,
    ...serviceOverrides,
  })
  try {
    await startWebhookIngest({
      app,
      runtime,
      config,
      ...(retentionJob === undefined ? {} : { retentionJob }),
    })
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}
