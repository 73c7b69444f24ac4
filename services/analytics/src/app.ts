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
    // POST /v1/events takes a bearer token; its route names this scheme: `security: [{ bearerAuth: [] }]`.
    openapi: {
      description: 'Aggregates activity events into daily active users and retention, and serves them.',
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
    },
    ...overrides,
  })
  return app
}
