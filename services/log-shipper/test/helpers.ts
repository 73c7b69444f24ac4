/**
 * The test harness of the log-shipper: everything real (PostgreSQL, RabbitMQ, ClickHouse), isolated per file: a
 * ClickHouse database, a producer schema with an outbox, a shipper schema, a vhost. Producers record through the
 * real event log and outbox relay, so a test follows an event from the business transaction to ClickHouse.
 */
import { exchanges } from '@platform/contracts'
import { migrate } from '@platform/db'
import { createEventLog, type EventLog, type EventLogEntry } from '@platform/eventlog'
import { createTestClickHouseDatabase, recordConcurrently, type TestClickHouse } from '@platform/eventlog/testing'
import { createLogger } from '@platform/logging'
import { type Broker, connectBroker, createPublisher, type Publisher } from '@platform/messaging'
import { createRegistry, type Registry } from '@platform/metrics'
import { createOutboxRelay, type OutboxRelay, outboxMigrations } from '@platform/outbox'
import { migrateService } from '@platform/service'
import { createTestSchema, createTestVhost, type TestSchema, type TestVhost, testUrls } from '@platform/testing'
import { createClickHouseClient } from '../src/clickhouse-client.js'
import { clickhouseMigrationsDir, loadClickHouseMigrations, migrateClickHouse } from '../src/clickhouse-migrations.js'
import { createClickHouseSink } from '../src/clickhouse-sink.js'
import { createLogShipper, type LogShipper, type LogShipperOptions } from '../src/shipper.js'
import type { EventSink, SinkBatch } from '../src/sink.js'

export const logger = createLogger({ service: 'log-shipper-test', level: process.env.TEST_LOG_LEVEL ?? 'silent' })

/** A sink decorator that counts what reaches the real sink: the number of inserts is the point of batching. */
export function countingSink(sink: EventSink) {
  const counted = {
    inserts: 0,
    rows: 0,
    batches: [] as number[],
    async insert(batch: SinkBatch) {
      counted.inserts++
      counted.batches.push(batch.count)
      await sink.insert(batch)
      counted.rows += batch.count
    },
    ping: () => sink.ping(),
  }
  return counted
}

export interface Harness {
  ch: TestClickHouse
  producerDb: TestSchema
  shipperDb: TestSchema
  vhost: TestVhost
  broker: Broker
  publisher: Publisher
  eventLog: EventLog
  registry: Registry
  relay(options?: { batchSize?: number }): OutboxRelay
  /** A shipper on its own broker connection, writing through a counting sink (to ClickHouse, or via clickhouseUrl). */
  startShipper(
    options?: Partial<LogShipperOptions> & { clickhouseUrl?: string; requestTimeoutMs?: number },
  ): Promise<{ shipper: LogShipper; sink: ReturnType<typeof countingSink>; registry: Registry; close(): Promise<void> }>
  /**
   * Records events in transactions of `perTx`, from `producers` concurrent writers; returns the event ids. A
   * transaction uses recordMany (envelopes), or record() per event with `oneByOne` (one message per event).
   */
  record(
    count: number,
    entry: (i: number) => EventLogEntry,
    options?: { producers?: number; perTx?: number; oneByOne?: boolean },
  ): Promise<string[]>
  /** count() and uniqExact(event_id) of the deduplicated table, optionally for one event type. */
  counts(eventType?: string): Promise<{ rows: number; distinct: number; raw: number }>
  close(): Promise<void>
}

export async function createHarness(
  prefix: string,
  options: { claimCheckThresholdBytes?: number } = {},
): Promise<Harness> {
  const ch = await createTestClickHouseDatabase(prefix)
  const shipperDb = await createTestSchema(`${prefix}_ship`)
  // As the service does at start: outbox and inbox, its own tables, the claim-check store.
  await migrateService(shipperDb.sql, shipperDb.schema, new URL('../migrations/', import.meta.url))
  await migrateClickHouse({
    client: ch.client,
    sql: shipperDb.sql,
    database: ch.database,
    migrations: await loadClickHouseMigrations(clickhouseMigrationsDir),
  })
  const producerDb = await createTestSchema(`${prefix}_prod`)
  await migrate(producerDb.sql, { schema: producerDb.schema, migrations: outboxMigrations })
  const vhost = await createTestVhost(prefix)
  const broker = connectBroker({ url: vhost.amqpUrl, name: `${prefix}-producer` })
  const publisher = createPublisher(broker, { exchanges: [exchanges.eventlog] })
  const eventLog = createEventLog({ service: 'billing', environment: 'test', ...options })
  const registry = createRegistry()
  const closers: (() => Promise<unknown>)[] = []

  const harness: Harness = {
    ch,
    producerDb,
    shipperDb,
    vhost,
    broker,
    publisher,
    eventLog,
    registry,
    relay(relayOptions = {}) {
      const relay = createOutboxRelay({
        sql: producerDb.sql,
        schema: producerDb.schema,
        publisher,
        logger,
        batchSize: relayOptions.batchSize ?? 1000,
        pollIntervalMs: 200,
      })
      closers.push(() => relay.stop())
      return relay
    },
    async startShipper(shipperOptions = {}) {
      const shipperBroker = connectBroker({ url: vhost.amqpUrl, name: `${prefix}-shipper` })
      const client = createClickHouseClient({
        url: shipperOptions.clickhouseUrl ?? testUrls().clickhouseUrl,
        database: ch.database,
        requestTimeoutMs: shipperOptions.requestTimeoutMs ?? 10_000,
      })
      const sink = countingSink(createClickHouseSink(client))
      const shipperRegistry = shipperOptions.registry ?? createRegistry()
      const shipper = createLogShipper({
        sql: shipperDb.sql,
        broker: shipperBroker,
        sink,
        logger,
        registry: shipperRegistry,
        ...shipperOptions,
      })
      await shipper.start()
      let closed = false
      const close = async () => {
        if (closed) return
        closed = true
        await shipper.stop()
        await shipperBroker.close()
        await client.close()
      }
      closers.push(close)
      return { shipper, sink, registry: shipperRegistry, close }
    },
    record: (count, entry, recordOptions = {}) =>
      recordConcurrently(producerDb.sql, eventLog, { count, entry, ...recordOptions }),
    async counts(eventType) {
      const where = eventType === undefined ? '' : `WHERE event_type = '${eventType.replace(/[^a-z0-9._-]/gi, '')}'`
      const result = await ch.client.query({
        query: `SELECT
            (SELECT count() FROM event_log FINAL ${where}) AS rows,
            (SELECT uniqExact(event_id) FROM event_log FINAL ${where}) AS ids,
            (SELECT count() FROM event_log ${where}) AS raw`,
        format: 'JSONEachRow',
      })
      const [row] = await result.json<{ rows: string; ids: string; raw: string }>()
      return { rows: Number(row?.rows), distinct: Number(row?.ids), raw: Number(row?.raw) }
    },
    async close() {
      for (const close of closers.reverse()) await close().catch(() => {})
      await publisher.close()
      await broker.close()
      await vhost.delete()
      await producerDb.drop()
      await shipperDb.drop()
      await ch.drop()
    },
  }
  return harness
}

/** Reads one metric's value from a registry: a counter's sum, or a histogram's observation count, by labels. */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = registry.getSingleMetric(name)
  if (!metric) return 0
  const data = await metric.get()
  const wanted = String(data.type) === 'histogram' ? `${name}_count` : name
  return data.values
    .filter((v) => ((v as { metricName?: string }).metricName ?? name) === wanted)
    .filter((v) => Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val))
    .reduce((sum, v) => sum + v.value, 0)
}
