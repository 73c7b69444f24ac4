import { exchanges, logShipperConsumer } from '@platform/contracts'
import { createSql, migrate, type Sql } from '@platform/db'
import { createEventLog, ensureClaimCheckStore } from '@platform/eventlog'
import { createTestClickHouseDatabase, type TestClickHouse } from '@platform/eventlog/testing'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { type Broker, connectBroker, createPublisher, dlqName, type Publisher } from '@platform/messaging'
import { createOutboxRelay, type OutboxRelay, outboxMigrations } from '@platform/outbox'
import {
  type PrivatePostgres,
  rabbitAdmin,
  sleep,
  startPrivatePostgres,
  type TcpProxy,
  waitFor,
} from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'
import { logger } from './helpers.js'

/**
 * The faults of ingest's database-faults test (issue 16 §1), for the log-shipper. Its PostgreSQL work is per batch:
 * it reads the contexts of claim-check events (eventlog_claims.payloads, written by the producers) before the insert
 * and deletes them after. Events flow (half of them large enough to travel as claim checks) while PostgreSQL
 * restarts, while the shipper's backends are killed, and while its connection is black-holed; afterwards every
 * committed event is in ClickHouse once, the payloads are cleaned up, nothing went to the DLQ, and readiness is 200
 * (503 while black-holed). The shipper is the service's app (buildApp) reaching a private server through a TCP proxy;
 * the producer writes to that server directly.
 */
const PRODUCER_SCHEMA = 'shipfaults_producer'

describe('log-shipper through PostgreSQL faults', () => {
  let pg: PrivatePostgres
  let proxy: TcpProxy
  let ch: TestClickHouse
  let env: ServiceTestEnv
  let app: ServiceApp
  let producer: Sql
  let broker: Broker
  let publisher: Publisher
  let relay: OutboxRelay
  // A threshold of 200 bytes: the padded contexts below go by claim check, the others inline.
  const eventLog = createEventLog({ service: 'billing', environment: 'test', claimCheckThresholdBytes: 200 })

  beforeAll(async () => {
    pg = await startPrivatePostgres()
    proxy = pg.proxy
    ch = await createTestClickHouseDatabase('shipfaults')
    env = await createServiceTestEnv('log_shipper', {
      LOG_LEVEL: 'silent',
      DATABASE_URL: pg.proxiedUrl,
      CLICKHOUSE_DATABASE: ch.database,
      LOG_SHIPPER_BATCH_ROWS: '200',
      LOG_SHIPPER_BATCH_WAIT_MS: '100',
      LOG_SHIPPER_PREFETCH: '1000',
      LOG_SHIPPER_RETRY_MAX_MS: '500',
      STALL_AFTER_MS: '1500',
      OUTBOX_RELAY_THREAD: 'false',
    })
    app = await buildApp(loadServiceConfig(env.env))
    await app.ready()
    // Ready once ClickHouse is migrated and the shipper's queue is bound: events published before would be dropped.
    await waitFor(ready, { timeoutMs: 30_000, message: 'the log-shipper ready' })

    producer = createSql({
      url: pg.url,
      schema: PRODUCER_SCHEMA,
      applicationName: 'producer',
      max: 4,
      // The traffic retries every 20 ms through the restart, and each refused connection grows postgres.js's reconnect
      // backoff: from the 7th on it is 10-20 s. The first commit after the restart waited that out (12-15 s with both
      // cores busy), traffic.stop() with it, and so did this relay, which shares the pool: up to 20 s of the test's
      // 60 s gone before the shipper's part begins. The producer stands in for the services that write events; how
      // soon it reconnects is not what this tests.
      reconnectBackoffMaxSeconds: 0.5,
    })
    await migrate(producer, { schema: PRODUCER_SCHEMA, migrations: outboxMigrations })
    await ensureClaimCheckStore(producer)
    broker = connectBroker({ url: env.vhost.amqpUrl, name: 'shipfaults-producer' })
    publisher = createPublisher(broker, { exchanges: [exchanges.eventlog] })
    relay = createOutboxRelay({ sql: producer, schema: PRODUCER_SCHEMA, publisher, logger, pollIntervalMs: 200 })
    await relay.start()
  }, 60_000)

  afterAll(async () => {
    await app?.close()
    await relay?.stop()
    await publisher?.close()
    await broker?.close()
    await producer?.end({ timeout: 1 })
    await pg?.stop()
    await env?.cleanup()
    await ch?.drop()
  })

  async function ready() {
    return (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200
  }

  /** Batch attempts that failed (nothing acked, retried): a fault that reached the shipper's batches shows here. */
  async function failedBatches(): Promise<number> {
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    return text
      .split('\n')
      .filter((l) => l.startsWith('bulk_consumer_batch_failures_total{'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0)
  }

  /**
   * A transaction of 10 events of `eventType` (one per test) every ~20 ms until stopped, every other one a claim
   * check; the committed ids.
   */
  function load(eventType: string) {
    const committed: string[] = []
    let running = true
    const loop = (async () => {
      let seq = 0
      while (running) {
        const entries = Array.from({ length: 10 }, () => {
          const n = seq++
          return { eventType, context: n % 2 ? { n, padding: 'x'.repeat(400) } : { n } }
        })
        // A commit that fails (the server restarting) recorded nothing: only committed events must arrive.
        committed.push(...(await producer.begin((tx) => eventLog.recordMany(tx, entries)).catch(() => [])))
        await sleep(20)
      }
    })()
    return {
      committed,
      eventType,
      /** Stops once at least `atLeast` events are committed (a loaded machine commits slowly around a fault). */
      async stop(atLeast = 50) {
        const deadline = Date.now() + 20_000
        while (committed.length < atLeast && Date.now() < deadline) await sleep(100)
        running = false
        await loop
      },
    }
  }

  async function counts(eventType: string) {
    const result = await ch.client.query({
      // Spelled in (this ClickHouse predates query parameters); the test's own names, checked.
      query: `SELECT count() AS rows, uniqExact(event_id) AS distinct FROM event_log FINAL
        WHERE event_type = '${eventType.replace(/[^a-z.]/g, '')}'`,
      format: 'JSONEachRow',
    })
    const [row] = await result.json<{ rows: string; distinct: string }>()
    return { rows: Number(row?.rows), distinct: Number(row?.distinct) }
  }

  /** Every committed event in ClickHouse once, the payloads deleted, the DLQ empty, readiness 200. */
  async function everyEventShippedOnce({ committed: ids, eventType }: { committed: string[]; eventType: string }) {
    // Enough traffic to matter, whatever a loaded machine manages around the fault.
    expect(ids.length).toBeGreaterThan(30)
    await waitFor(async () => (await counts(eventType)).rows === ids.length, {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: `all ${ids.length} events in ClickHouse`,
    })
    expect(await counts(eventType)).toEqual({ rows: ids.length, distinct: ids.length })
    await waitFor(
      async () =>
        (await producer<{ n: number }[]>`select count(*)::int as n from eventlog_claims.payloads`)[0]?.n === 0,
      { timeoutMs: 15_000, message: 'the claim-check payloads deleted' },
    )
    expect(await rabbitAdmin().getMessages(env.vhost.vhost, dlqName(logShipperConsumer.queue), 1)).toEqual([])
    await waitFor(ready, { timeoutMs: 15_000, message: 'ready again' })
  }

  it('ships every event once through a restart of PostgreSQL', async () => {
    const traffic = load('faults.restart')
    await sleep(500)
    await pg.restart(3000) // long enough that a batch of the running traffic meets it, even on a loaded machine
    await sleep(3000)
    await traffic.stop()
    await everyEventShippedOnce(traffic)
    // The restart did reach the shipper: batches failed while it lasted and were retried, not acked.
    expect(await failedBatches()).toBeGreaterThan(0)
  }, 60_000)

  it("ships every event once after the shipper's backends are killed, several times over", async () => {
    const traffic = load('faults.terminate')
    let killed = 0
    for (let i = 0; i < 5; i++) {
      await sleep(300)
      killed += await pg.terminateBackends('log-shipper')
    }
    expect(killed).toBeGreaterThan(0)
    await sleep(500)
    await traffic.stop()
    await everyEventShippedOnce(traffic)
  }, 60_000)

  it('is not ready while its connection is black-holed, and ships every event once after', async () => {
    const traffic = load('faults.blackhole')
    await sleep(300)
    proxy.blackhole()
    try {
      await waitFor(
        async () => {
          const res = await app.inject({ method: 'GET', url: '/health/ready' })
          return res.statusCode === 503 && ['timeout', 'error'].includes(res.json().checks?.postgres)
        },
        { timeoutMs: 10_000, message: 'not ready, naming postgres' },
      )
      await sleep(1000)
    } finally {
      proxy.restore()
    }
    await sleep(500)
    await traffic.stop()
    await everyEventShippedOnce(traffic)
  }, 60_000)
})
