import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import type { Config } from './config.js'
import { startWebhookProcessing } from './webhook-processing.js'

/**
 * The processor service consumes accepted webhook events, applies their effects exactly once, notifies the
 * downstream service and reports each event's status back to ingest (docs/webhooks.md). Dependencies: postgres,
 * rabbitmq. Its consumers and outbox relay stop in onClose hooks that run before createService closes the
 * connections it opened.
 */
export async function buildApp(config: Config, overrides: ServiceOverrides = {}): Promise<ServiceApp> {
  const { app, runtime } = await createService({
    service: 'processor',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    openapi: {
      description:
        'Applies accepted webhook events exactly once, notifies the downstream service and reports each ' +
        'event’s status back to ingest (docs/webhooks.md#processing). Its work arrives through RabbitMQ: over ' +
        'HTTP it answers health and metrics only.',
    },
    ...overrides,
  })
  try {
    await startWebhookProcessing({ app, runtime, config })
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}
