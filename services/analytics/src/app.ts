import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import type { Config } from './config.js'

/**
 * The analytics service aggregates events into counts and serves them. Dependencies: postgres, rabbitmq. Routes,
 * consumers and their onClose hooks are registered here as features arrive; createService already closes the
 * connections it opened, after them.
 */
export async function buildApp(config: Config, overrides: ServiceOverrides = {}): Promise<ServiceApp> {
  const { app } = await createService({
    service: 'analytics',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    ...overrides,
  })
  return app
}
