import { readFile } from 'node:fs/promises'
import type { CommonConfig } from '@platform/config'
import { createSql, loadMigrations, type Migration, migrate, pingDatabase, type Sql } from '@platform/db'
import { createEventLog, type EventLog, ensureClaimCheckStore } from '@platform/eventlog'
import {
  buildServiceApp,
  createRedis,
  type OpenApiOptions,
  type ReadinessChecks,
  type ServiceApp,
  type ServiceAppOptions,
} from '@platform/http'
import { inboxMigrations } from '@platform/inbox'
import { createLogger, type Logger } from '@platform/logging'
import { type Broker, brokerIsConnected, connectBroker, createPublisher, type Publisher } from '@platform/messaging'
import { createRegistry, type Registry } from '@platform/metrics'
import { createOutboxRelay, createThreadedOutboxRelay, type OutboxRelay, outboxMigrations } from '@platform/outbox'
import { startTracing, type TracingOptions, tracesEndpoint } from '@platform/tracing'
import { Redis } from 'ioredis'

/**
 * What every service process holds besides its routes: logger, metrics registry, PostgreSQL pool (migrated),
 * RabbitMQ connection, and Redis where the service uses it. Built here once so five services do not each
 * repeat the wiring, the readiness checks and the teardown order.
 */
export interface ServiceRuntimeOptions<R extends boolean> {
  service: string
  config: CommonConfig
  /** The service's migrations folder (`new URL('../migrations/', import.meta.url)`) or loaded migrations. */
  migrations: URL | Migration[]
  redis?: R
  /** Adds a readiness check on ClickHouse's /ping (no client: the service talks HTTP to it). */
  clickhouse?: boolean
  /** Tests pass a logger writing to a stream they read. */
  logger?: Logger
}

export interface ServiceRuntime<R extends boolean = false> {
  logger: Logger
  registry: Registry
  sql: Sql
  broker: Broker
  /** Confirmed publishing; business code publishes through the outbox instead. */
  publisher: Publisher
  /** Publishes this service's outbox; started when the app is ready, stopped before the broker closes. */
  outboxRelay: OutboxRelay
  /** Records event-log events inside business transactions (through the outbox). */
  eventLog: EventLog
  redis: R extends true ? Redis : undefined
  /** One check per dependency this service uses, for /health/ready. */
  readiness: ReadinessChecks
  /** Stops the outbox relay, closes Redis, the broker, then PostgreSQL: the reverse of opening. Never rejects. */
  close(): Promise<void>
}

/**
 * Every service has an outbox and an inbox in its own schema, then its own tables, and writes large event-log
 * contexts to the shared claim-check store. One function, used by the services and by `npm run migrate`.
 */
export async function migrateService(
  sql: Sql,
  schema: string,
  own: URL | string | Migration[],
  log?: (line: string) => void,
): Promise<string[]> {
  const ownMigrations = Array.isArray(own) ? own : await loadMigrations(own)
  const migrations = [...outboxMigrations, ...inboxMigrations, ...ownMigrations]
  const applied = await migrate(sql, { schema, migrations, ...(log ? { log } : {}) })
  await ensureClaimCheckStore(sql)
  return applied
}

/** Readiness checks get ~1 s each; the database ping's own deadline stays inside it. */
const PING_TIMEOUT_MS = 900

export async function createServiceRuntime<R extends boolean = false>(
  options: ServiceRuntimeOptions<R>,
): Promise<ServiceRuntime<R>> {
  const { config, service } = options
  const logger = options.logger ?? createLogger({ service, level: config.LOG_LEVEL })
  // First: the database client instruments its queries only when tracing is on by the time it is created.
  const tracingOptions = tracingOptionsOf(service, config)
  const tracing = await startTracing({
    ...tracingOptions,
    // Its commands' spans: the one client library of the services the platform's packages do not wrap themselves.
    ...(options.redis ? { ioredis: Redis } : {}),
    warn: (message) => logger.warn({ otel: message }, 'tracing: the OpenTelemetry SDK reported a problem'),
  })
  if (tracing.enabled) {
    logger.info({ endpoint: tracingOptions.endpoint, sampleRatio: tracingOptions.sampleRatio }, 'tracing on')
  }
  const registry = createRegistry({ service })
  const sql = createSql({
    url: config.DATABASE_URL,
    schema: config.DB_SCHEMA,
    applicationName: service,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
    idleInTransactionTimeoutMs: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  })
  try {
    await migrateService(sql, config.DB_SCHEMA, options.migrations, (line) => logger.info(line))
  } catch (error) {
    await sql.end({ timeout: 1 })
    await tracing.shutdown()
    throw error
  }
  const broker = connectBroker({ url: config.AMQP_URL, name: service, logger })
  const publisher = createPublisher(broker)
  const outboxRelay = config.OUTBOX_RELAY_THREAD
    ? createThreadedOutboxRelay({
        service,
        databaseUrl: config.DATABASE_URL,
        amqpUrl: config.AMQP_URL,
        schema: config.DB_SCHEMA,
        logLevel: config.LOG_LEVEL,
        // The thread exports its own spans (the SDK is per thread); it makes no fetch calls.
        ...(tracing.enabled ? { tracing: { ...tracingOptions, fetch: false } } : {}),
        logger,
        sql,
        registry,
        stallAfterMs: config.STALL_AFTER_MS,
      })
    : createOutboxRelay({
        sql,
        schema: config.DB_SCHEMA,
        publisher,
        logger,
        registry,
        stallAfterMs: config.STALL_AFTER_MS,
      })
  const eventLog = createEventLog({ service, environment: config.ENVIRONMENT })
  const redis = options.redis ? createRedis(config, logger) : undefined

  const readiness: ReadinessChecks = {
    postgres: () => pingDatabase(sql, PING_TIMEOUT_MS),
    rabbitmq: () => brokerIsConnected(broker),
    outboxRelay: () => outboxRelay.progress.check(),
  }
  if (redis) readiness.redis = async () => redis.status === 'ready' && (await redis.ping()) === 'PONG'
  if (options.clickhouse) readiness.clickhouse = () => pingClickHouse(config.CLICKHOUSE_URL, PING_TIMEOUT_MS)

  const steps: [string, () => unknown][] = [
    ['outbox relay', () => outboxRelay.stop()],
    ['redis', () => redis?.disconnect()],
    ['publisher', () => publisher.close()],
    ['rabbitmq', () => broker.close()],
    ['postgres', () => sql.end({ timeout: 5 })],
    // Last, so the spans of the shutdown itself are exported too (bounded, tracing's own limit).
    ['tracing', () => tracing.shutdown()],
  ]
  return {
    logger,
    registry,
    sql,
    broker,
    publisher,
    outboxRelay,
    eventLog,
    redis: redis as ServiceRuntime<R>['redis'],
    readiness,
    async close() {
      for (const [name, step] of steps) {
        try {
          await step()
        } catch (err) {
          logger.warn({ err, dependency: name }, 'closing a connection failed')
        }
      }
    },
  }
}

/** The tracing of a service process from its configuration: on when an OTLP endpoint is set. */
export function tracingOptionsOf(service: string, config: CommonConfig): TracingOptions {
  return {
    service,
    endpoint: tracesEndpoint(config),
    sampleRatio: config.OTEL_TRACES_SAMPLER_ARG,
    environment: config.ENVIRONMENT,
    trustIncomingContext: config.TRACE_TRUST_INCOMING_CONTEXT,
    propagateHosts: config.TRACE_PROPAGATE_HOSTS.split(',').filter((host) => host.trim() !== ''),
  }
}

export async function pingClickHouse(url: string, timeoutMs: number): Promise<boolean> {
  const response = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(timeoutMs) })
  await response.body?.cancel()
  return response.ok
}

/** What a service's `buildApp(config, overrides)` lets a test replace. */
export type ServiceOverrides = Pick<ServiceRuntimeOptions<boolean>, 'logger'>

export interface CreateServiceOptions<R extends boolean> extends ServiceRuntimeOptions<R> {
  rateLimit?: ServiceAppOptions['rateLimit']
  /** The service's part of its OpenAPI document (/docs/json): description, security schemes, tags. */
  openapi?: OpenApiOptions
}

/**
 * The version of the service's package.json: the one beside its migrations folder, which is the service's root in
 * the sources and in the image alike (`new URL('../migrations/', import.meta.url)` from src/ or dist/).
 */
export async function serviceVersion(migrations: URL | Migration[]): Promise<string | undefined> {
  if (Array.isArray(migrations)) return undefined
  try {
    const manifest = JSON.parse(await readFile(new URL('../package.json', migrations), 'utf8')) as { version?: unknown }
    return typeof manifest.version === 'string' ? manifest.version : undefined
  } catch {
    return undefined
  }
}

/**
 * The runtime plus the app built on it, with the runtime's teardown as the app's first onClose hook. Fastify runs
 * onClose hooks last-registered-first, so hooks a service adds later (consumer.stop(), relay.stop()) run before
 * the connections they use are closed.
 */
export async function createService<R extends boolean = false>(
  options: CreateServiceOptions<R>,
): Promise<{ app: ServiceApp; runtime: ServiceRuntime<R> }> {
  const runtime = await createServiceRuntime(options)
  try {
    const version = await serviceVersion(options.migrations)
    const app = await buildServiceApp({
      service: options.service,
      config: options.config,
      logger: runtime.logger,
      registry: runtime.registry,
      readiness: runtime.readiness,
      redis: runtime.redis,
      ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
      openapi: { ...(version === undefined ? {} : { version }), ...options.openapi },
    })
    app.addHook('onClose', () => runtime.close())
    app.addHook('onReady', () => runtime.outboxRelay.start())
    return { app, runtime }
  } catch (error) {
    await runtime.close()
    throw error
  }
}
