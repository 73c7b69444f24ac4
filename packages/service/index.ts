/**
 * @platform/service: what every service process holds besides its routes (config-driven connections to PostgreSQL,
 * RabbitMQ and Redis, migrations, the outbox relay, readiness checks, graceful shutdown), for processes with an HTTP
 * app (createService + runServer) and for worker processes without routes (createServiceRuntime + runWorker).
 * The Fastify app itself, problem+json and schemas are @platform/http.
 */
export { createPeriodicJob, type PeriodicJob, type PeriodicJobOptions } from './lib/periodic-job.js'
export {
  type CreateServiceOptions,
  createService,
  createServiceRuntime,
  migrateService,
  pingClickHouse,
  type ServiceOverrides,
  type ServiceRuntime,
  type ServiceRuntimeOptions,
} from './lib/runtime.js'
export { type RunningServer, type RunServerOptions, runServer, startService } from './lib/server.js'
export { type RunningWorker, type RunWorkerOptions, runWorker } from './lib/worker.js'
