import { createSql, migrate, type Sql } from '@platform/db'
import { createLogger } from '@platform/logging'
import { type Consumer, defineConsumer, defineExchange, startConsumer } from '@platform/messaging'
import { openTestBroker, type TestBroker } from '@platform/messaging/testing'
import { StalledError } from '@platform/metrics'
import { type PrivatePostgres, sleep, startPrivatePostgres, type TcpProxy, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOutboxRelay, createThreadedOutboxRelay, enqueue, type OutboxRelay, outboxMigrations } from '../index.js'
import { relayThreadRunning } from './fixtures/relay-thread-running.js'

/**
 * The faults of ingest's database-faults test (issue 16 §1), for the outbox relay, in process and on its worker
 * thread: rows are committed continuously (straight to the server) while the relay's connections (through a TCP
 * proxy) see PostgreSQL restart, their backends killed, and a black hole. Afterwards every committed row was
 * published (duplicates allowed: consumers deduplicate) and the table drains; while black-holed past stallAfterMs,
 * progress.check() throws a StalledError, and stops throwing after the restore. A private server, so no other test
 * file sees the faults.
 */
const logger = createLogger({ service: 'outbox-faults-test', level: 'silent' })
const exchange = defineExchange('relay-faults')
const SCHEMA = 'relay_faults'
const STALL_AFTER_MS = 1000

let pg: PrivatePostgres
let proxy: TcpProxy
let producer: Sql
let relaySql: Sql
let rabbit: TestBroker
let consumer: Consumer
const published = new Set<string>()

beforeAll(async () => {
  pg = await startPrivatePostgres()
  proxy = pg.proxy
  // The load retries every 20 ms through the restart, and each refused connection grows postgres.js's reconnect
  // backoff: from the 7th on it is 10-20 s, which the first commit after the restart waited out (traffic.stop() with it). The
  // producer is not under test; the relay's own pool keeps the default.
  producer = createSql({
    url: pg.url,
    schema: SCHEMA,
    applicationName: 'producer',
    max: 4,
    reconnectBackoffMaxSeconds: 0.5,
  })
  await migrate(producer, { schema: SCHEMA, migrations: outboxMigrations })
  relaySql = createSql({ url: pg.proxiedUrl, schema: SCHEMA, applicationName: 'relay' })
  rabbit = await openTestBroker('relayfaults', { exchanges: [exchange] })
  consumer = startConsumer(rabbit.broker, {
    def: defineConsumer({
      queue: 'relay-faults.published',
      bindings: [{ exchange, routingKey: '#' }],
      retry: { delaysMs: [100], maxAttempts: 3 },
    }),
    logger,
    prefetch: 500,
    handler: async (m) => {
      published.add(m.messageId)
    },
  })
  await consumer.ready()
}, 60_000)

afterAll(async () => {
  await consumer?.stop()
  await rabbit?.close()
  await relaySql?.end({ timeout: 1 })
  await producer?.end({ timeout: 1 })
  await pg?.stop()
})

/** A transaction of 5 rows every ~20 ms (~250 rows/s) until stopped; remembers the ids of the committed ones. */
function load() {
  const committed: string[] = []
  let running = true
  const loop = (async () => {
    let seq = 0
    while (running) {
      const rows = Array.from({ length: 5 }, () => ({
        exchange: exchange.name,
        routingKey: 'row',
        body: { seq: seq++ },
      }))
      // A commit that fails (the server restarting) enqueued nothing: only committed rows must be published.
      committed.push(...(await producer.begin((tx) => enqueue(tx, rows)).catch(() => [])))
      await sleep(20)
    }
  })()
  return {
    committed,
    async stop() {
      running = false
      await loop
    },
  }
}

async function everyRowPublished(committed: string[]) {
  // Enough traffic to matter, whatever a loaded machine manages around the fault.
  expect(committed.length).toBeGreaterThan(20)
  await waitFor(() => committed.every((id) => published.has(id)), {
    timeoutMs: 30_000,
    intervalMs: 250,
    message: `all ${committed.length} committed rows published`,
  })
  await waitFor(async () => (await producer<{ n: number }[]>`select count(*)::int as n from outbox`)[0]?.n === 0, {
    timeoutMs: 15_000,
    message: 'the outbox drained',
  })
}

/** A relay, and for one on a thread the moment it runs: the faults are meant for its connections, not its start. */
const kinds: [string, () => { relay: OutboxRelay; running?: () => Promise<void> | undefined }][] = [
  [
    'in process',
    () => ({
      relay: createOutboxRelay({
        sql: relaySql,
        schema: SCHEMA,
        publisher: rabbit.publisher,
        logger,
        pollIntervalMs: 200,
        claimTimeoutMs: 2000,
        stallAfterMs: STALL_AFTER_MS,
      }),
    }),
  ],
  [
    'on its worker thread',
    () => {
      let running: Promise<void> | undefined
      const relay = createThreadedOutboxRelay({
        service: 'relay-faults',
        databaseUrl: pg.proxiedUrl,
        amqpUrl: rabbit.amqpUrl,
        schema: SCHEMA,
        logLevel: 'silent',
        logger,
        sql: relaySql,
        pollIntervalMs: 200,
        stallAfterMs: STALL_AFTER_MS,
        onThread: (thread) => {
          running ??= relayThreadRunning(thread)
        },
      })
      // Asked after start(), which spawns the thread.
      return { relay, running: () => running }
    },
  ],
]

describe.each(kinds)('the outbox relay %s through PostgreSQL faults', (kind, createRelay) => {
  let relay: OutboxRelay

  beforeAll(async () => {
    const created = createRelay()
    relay = created.relay
    await relay.start()
    // Started from TypeScript, a thread takes seconds to load on a busy machine (fixtures/relay-thread-running.ts):
    // without this wait the restart below could pass before it ever connected, and its load eat the waits' budget.
    await created.running?.()
  })
  afterAll(async () => {
    await relay?.stop()
  })

  it('publishes every committed row through a restart of PostgreSQL, and the table drains', async () => {
    const traffic = load()
    await sleep(500)
    await pg.restart(1500)
    await sleep(1000)
    await traffic.stop()
    await everyRowPublished(traffic.committed)
    expect(() => relay.progress.check()).not.toThrow()
  }, 60_000)

  it("publishes every committed row after the relay's backends are killed, several times over", async () => {
    const traffic = load()
    let killed = 0
    for (let i = 0; i < 5; i++) {
      await sleep(300)
      killed += await pg.terminateBackends(kind === 'in process' ? 'relay' : 'relay-faults-outbox-relay')
    }
    expect(killed).toBeGreaterThan(0)
    await sleep(500)
    await traffic.stop()
    await everyRowPublished(traffic.committed)
  }, 60_000)

  it('is stalled while black-holed past stallAfterMs, and recovers and publishes everything after', async () => {
    // Not stalled beforehand, or the check below proves nothing.
    await waitFor(() => {
      relay.progress.check()
      return true
    })
    const traffic = load()
    await sleep(300)
    proxy.blackhole()
    try {
      const stalled = await waitFor(
        () => {
          try {
            relay.progress.check()
            return undefined
          } catch (error) {
            return error
          }
        },
        { timeoutMs: 10_000, message: 'stalled while black-holed' },
      )
      expect(stalled).toBeInstanceOf(StalledError)
    } finally {
      proxy.restore()
    }
    await waitFor(
      () => {
        relay.progress.check()
        return true
      },
      { timeoutMs: 15_000, message: 'not stalled after the restore' },
    )
    await sleep(300)
    await traffic.stop()
    await everyRowPublished(traffic.committed)
  }, 60_000)
})
