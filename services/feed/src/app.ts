import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import type { Config } from './config.js'

/**
 * The feed service serves each account its activity feed, built from events and cached in Redis. Dependencies:
 * postgres, rabbitmq, redis. Routes, consumers and their onClose hooks are registered here as features arrive;
 * createService already closes the connections it opened, after them.
 */
export async function buildApp(config: Config, overrides: ServiceOverrides = {}): Promise<ServiceApp> {
  const { app } = await createService({
    service: 'feed',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    redis: true,
    ...overrides,
  })
  return app
}
