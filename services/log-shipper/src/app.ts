import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import type { Config } from './config.js'
import { startLogShipping } from './log-shipping.js'

/**
 * The log-shipper service ships the event log to ClickHouse in batches (docs/eventlog.md). Dependencies:
 * postgres, rabbitmq, clickhouse. The shipper stops in an onClose hook that runs before createService closes the
 * connections it opened.
 */
export async function buildApp(config: Config, overrides: ServiceOverrides = {}): Promise<ServiceApp> {
  const { app, runtime } = await createService({
    service: 'log-shipper',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    clickhouse: true,
    openapi: {
      description:
        'Ships every service’s event log from RabbitMQ to ClickHouse in batches (docs/eventlog.md). Over HTTP it ' +
        'answers health and metrics only.',
    },
    ...overrides,
  })
  try {
    startLogShipping({ app, runtime, config })
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}
