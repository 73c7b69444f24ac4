import { ConfigError, loadConfig, type Static, serviceEnv, Type } from '@platform/config'

/**
 * The analytics service's environment (docs/configuration.md#analytics): the variables every service reads, and its
 * own, read and validated once at start. Everything below server.ts receives it from here.
 */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3003, schema: 'analytics' }),
  /**
   * The bearer token of `POST /v1/events` (external producers). Required in production; unset elsewhere the route
   * refuses every request (401), and the activity consumer still runs.
   */
  ANALYTICS_INGEST_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  ANALYTICS_READ_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  /** The body limit of `POST /v1/events` alone: 10,000 events of ~1.6 KB each. Other routes keep BODY_LIMIT_BYTES. */
  ANALYTICS_EVENTS_BODY_LIMIT_BYTES: Type.Integer({ default: 16 * 1024 * 1024, minimum: 1024 }),
  /** Late events are accepted up to this many days after they happened; older ones are refused (400, DLQ). */
  ANALYTICS_MAX_EVENT_AGE_DAYS: Type.Integer({ default: 90, minimum: 1, maximum: 3660 }),
  /** How far in the future (clock skew of producers) an event's performedAt may be. */
  ANALYTICS_MAX_FUTURE_SKEW_S: Type.Integer({ default: 300, minimum: 0, maximum: 86_400 }),
  /** Monthly partitions of events created ahead of the current month. */
  ANALYTICS_PARTITION_LOOKAHEAD_MONTHS: Type.Integer({ default: 2, minimum: 1, maximum: 24 }),
  /** Partitions of months older than this are detached (0: never); the rollups keep their days. */
  ANALYTICS_EVENTS_RETENTION_MONTHS: Type.Integer({ default: 0, minimum: 0, maximum: 1200 }),
  /** How often partitions are created, detached, and the inbox pruned. */
  ANALYTICS_MAINTENANCE_INTERVAL_MS: Type.Integer({ default: 3_600_000, minimum: 1000 }),
  /** The activity consumers write this many events per transaction at most (a batch message counts its events), */
  ANALYTICS_CONSUMER_BATCH_ROWS: Type.Integer({ default: 5000, minimum: 1, maximum: 10_000 }),
  /** or what has arrived this long after the first one of a batch: how stale the rollups may get under low traffic. */
  ANALYTICS_CONSUMER_BATCH_WAIT_MS: Type.Integer({ default: 200, minimum: 0, maximum: 10_000 }),
  /** Messages held unacknowledged: at least twice a batch, so the next batch fills while one is written. */
  ANALYTICS_CONSUMER_PREFETCH: Type.Integer({ default: 10_000, minimum: 1, maximum: 65_535 }),
  /**
   * activity.batch.v1 messages held unacknowledged (analytics.activity-batches). Each carries up to 1,000 events and
   * 4 MiB, so this bounds the consumer's memory (16: 64 MiB at most) where the single events' prefetch would not.
   */
  ANALYTICS_BATCH_CONSUMER_PREFETCH: Type.Integer({ default: 16, minimum: 1, maximum: 1_000 }),
  /**
   * Consumers of analytics.activity-batches in each instance: with 2, one batch's events insert runs while the other
   * holds the rollup lock (as two concurrent POSTs do). Memory: this times the prefetch's 64 MiB at most.
   */
  ANALYTICS_BATCH_CONSUMER_CONCURRENCY: Type.Integer({ default: 2, minimum: 1, maximum: 8 }),
})

export type Config = Static<typeof ConfigSchema>

/** Throws a ConfigError naming every variable that is wrong (never a token's value). */
export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = loadConfig(ConfigSchema, env)
  const problems: { variable: string; message: string }[] = []
  if (config.NODE_ENV === 'production' && !config.ANALYTICS_INGEST_TOKEN) {
    problems.push({ variable: 'ANALYTICS_INGEST_TOKEN', message: 'is required in production' })
  }
  if (config.ANALYTICS_CONSUMER_PREFETCH < config.ANALYTICS_CONSUMER_BATCH_ROWS) {
    problems.push({
      variable: 'ANALYTICS_CONSUMER_PREFETCH',
      message: 'must be at least ANALYTICS_CONSUMER_BATCH_ROWS',
    })
  }
  // An event the age limit accepts must find its partition: retention may not detach a month it still accepts.
  const retention = config.ANALYTICS_EVENTS_RETENTION_MONTHS
  if (retention > 0 && retention * 28 <= config.ANALYTICS_MAX_EVENT_AGE_DAYS + 31) {
    problems.push({
      variable: 'ANALYTICS_EVENTS_RETENTION_MONTHS',
      message: 'must keep more than ANALYTICS_MAX_EVENT_AGE_DAYS (+ a month) of events',
    })
  }
  if (problems.length > 0) throw new ConfigError(problems)
  return config
}
