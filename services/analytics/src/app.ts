import type { ServiceApp } from '@platform/http'
import { createService, type ServiceOverrides } from '@platform/service'
import { startAnalytics } from './analytics.js'
import type { Config } from './config.js'
import { INGEST_TOKEN } from './events/events-route.js'
import { READ_TOKEN } from './queries/routes.js'

export interface AnalyticsOverrides extends ServiceOverrides {
  /** false: tests run the partition maintenance themselves. */
  maintenanceJob?: boolean
}

/**
 * The analytics service (docs/analytics.md): activity events in, from the `activity` exchange and from
 * `POST /v1/events`, into a partitioned events table and its rollups; daily active users, retention and cohorts
 * out, and a dashboard at `/`. Dependencies: postgres, rabbitmq. What startAnalytics registers stops in onClose
 * hooks that run before the connections createService opened are closed.
 */
export async function buildApp(config: Config, overrides: AnalyticsOverrides = {}): Promise<ServiceApp> {
  const { maintenanceJob, ...serviceOverrides } = overrides
  // One options object: the OpenAPI document's option joins it here (the bearer scheme of POST /v1/events is
  // INGEST_TOKEN, events/events-route.ts; every route's schema has summary, tags and responses).
  const { app, runtime } = await createService({
    service: 'analytics',
    config,
    migrations: new URL('../migrations/', import.meta.url),
    // POST /v1/events takes a bearer token; its route names this scheme (INGEST_TOKEN, events/events-route.ts);
    // the read routes another, where ANALYTICS_READ_TOKEN is set (READ_TOKEN, queries/routes.ts).
    openapi: {
      description: 'Aggregates activity events into daily active users and retention, and serves them.',
      securitySchemes: { ...INGEST_TOKEN.scheme, ...READ_TOKEN.scheme },
    },
    ...serviceOverrides,
  })
  try {
    await startAnalytics({ app, runtime, config, ...(maintenanceJob === undefined ? {} : { maintenanceJob }) })
  } catch (error) {
    await app.close()
    throw error
  }
  return app
}
