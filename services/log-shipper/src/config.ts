import { loadConfig, type Static, serviceEnv, Type } from '@platform/config'

/** The log-shipper's environment: the variables every service reads, plus ClickHouse and the batching limits. */
export const ConfigSchema = Type.Object({
  ...serviceEnv({ port: 3005, schema: 'log_shipper' }),
  /** The ClickHouse database of event_log; created and migrated by the shipper at start. Tests use their own. */
  CLICKHOUSE_DATABASE: Type.String({ default: 'platform', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' }),
  /** An insert taking longer counts as failed and is retried (the rows may have landed: reads deduplicate). */
  CLICKHOUSE_REQUEST_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  /** Flush a batch at this many rows... */
  LOG_SHIPPER_BATCH_ROWS: Type.Integer({ default: 10_000, minimum: 1 }),
  /** ...or when its oldest message has waited this long... */
  LOG_SHIPPER_BATCH_WAIT_MS: Type.Integer({ default: 1_000, minimum: 1 }),
  /** ...or at this many bytes of messages (a context held by claim check counted at its size), whichever first. */
  LOG_SHIPPER_BATCH_BYTES: Type.Integer({ default: 16 * 1024 * 1024, minimum: 1 }),
  /** Unacked messages held at most (the memory bound while ClickHouse is down); at least the batch rows. */
  LOG_SHIPPER_PREFETCH: Type.Integer({ default: 20_000, minimum: 1, maximum: 65_535 }),
  /** Longest wait between attempts of a batch ClickHouse does not take. */
  LOG_SHIPPER_RETRY_MAX_MS: Type.Integer({ default: 10_000, minimum: 10 }),
})

export type Config = Static<typeof ConfigSchema>

export function loadServiceConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return loadConfig(ConfigSchema, env)
}
