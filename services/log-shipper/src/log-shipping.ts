import { ConfigError } from '@platform/config'
import type { ServiceApp } from '@platform/http'
import type { ServiceRuntime } from '@platform/service'
import { createClickHouseClient, ensureClickHouseDatabase } from './clickhouse-client.js'
import { clickhouseMigrationsDir, loadClickHouseMigrations, migrateClickHouse } from './clickhouse-migrations.js'
import { createClickHouseSink } from './clickhouse-sink.js'
import type { Config } from './config.js'
import { createLogShipper, type LogShipper } from './shipper.js'

/**
 * Wires the shipper into the service. ClickHouse may be down when the process starts: the database and its
 * migrations are then retried in the background (the events wait in RabbitMQ meanwhile), and /health/ready
 * reports clickhouse as not ready until the schema is migrated and ClickHouse answers.
 */
export function startLogShipping(options: { app: ServiceApp; runtime: ServiceRuntime; config: Config }): void {
  const { app, runtime, config } = options
  const log = runtime.logger
  if (config.LOG_SHIPPER_PREFETCH < config.LOG_SHIPPER_BATCH_ROWS) {
    // A batch could never fill: the broker stops delivering at the prefetch count.
    throw new ConfigError([{ variable: 'LOG_SHIPPER_PREFETCH', message: 'must be at least LOG_SHIPPER_BATCH_ROWS' }])
  }
  const client = createClickHouseClient({
    url: config.CLICKHOUSE_URL,
    database: config.CLICKHOUSE_DATABASE,
    requestTimeoutMs: config.CLICKHOUSE_REQUEST_TIMEOUT_MS,
  })
  const sink = createClickHouseSink(client)
  let shipper: LogShipper | undefined
  let closing = false
  let wake: (() => void) | undefined

  runtime.readiness.clickhouse = async () => shipper !== undefined && (await sink.ping())
  runtime.readiness.shipper = () => shipper?.consumer?.progress.check()

  async function prepareAndStart(): Promise<void> {
    for (let attempt = 1; !closing; attempt++) {
      try {
        await ensureClickHouseDatabase(config.CLICKHOUSE_URL, config.CLICKHOUSE_DATABASE)
        await migrateClickHouse({
          client,
          sql: runtime.sql,
          database: config.CLICKHOUSE_DATABASE,
          migrations: await loadClickHouseMigrations(clickhouseMigrationsDir),
          log: (line) => log.info(line),
        })
        break
      } catch (error) {
        log.error({ err: (error as Error).message, attempt }, 'cannot prepare the ClickHouse schema yet; retrying')
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(1000 * 2 ** (attempt - 1), 30_000))
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
    }
    if (closing) return
    const started = createLogShipper({
      sql: runtime.sql,
      broker: runtime.broker,
      sink,
      logger: log,
      registry: runtime.registry,
      policy: {
        maxRows: config.LOG_SHIPPER_BATCH_ROWS,
        maxWaitMs: config.LOG_SHIPPER_BATCH_WAIT_MS,
        maxBytes: config.LOG_SHIPPER_BATCH_BYTES,
      },
      prefetch: config.LOG_SHIPPER_PREFETCH,
      backoff: { maxMs: config.LOG_SHIPPER_RETRY_MAX_MS },
    })
    await started.start()
    shipper = started
    log.info({ database: config.CLICKHOUSE_DATABASE }, 'shipping the event log to ClickHouse')
  }

  const starting = prepareAndStart().catch((error) => {
    log.fatal({ err: (error as Error).message }, 'the log shipper could not start; readiness stays false')
  })

  app.addHook('onClose', async () => {
    closing = true
    wake?.()
    await starting
    await shipper?.stop()
    await client.close()
  })
}
