import { createSql, migrate, type Sql } from '@platform/db'
import { createLogger } from '@platform/logging'
import { type Consumer, defineConsumer, defineExchange, startConsumer } from '@platform/messaging'
import { openTestBroker, type TestBroker } from '@platform/messaging/testing'
import {
  createTcpProxy,
  createTestSchema,
  sleep,
  type TcpProxy,
  type TestSchema,
  testUrls,
  waitFor,
} from '@platform/testing'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createOutboxRelay, enqueue, type OutboxRelay, type OutboxRelayOptions, outboxMigrations } from '../index.js'

/**
 * The relay's wake-ups: a relay whose connections go through a TCP proxy polls every 20 s, so a row published
 * within 2 s was announced by a notification (the outbox_notify trigger) rather than found by a poll (by
 * chance one in ten; five rows in a row, 1 in 100,000).
 *   - A row committed while a claim that found nothing ends (its snapshot predates the row; the test hook
 *     afterClaim commits it) is published at once: the relay remembers the notification and claims again instead
 *     of waiting for the poll.
 *   - After the database refused connections, when the relay started (its first LISTEN failed) or while it ran,
 *     notifications wake it again: postgres.js keeps the channel and LISTENs again when its connection comes back.
 *     This holds the dependency to that; the relay itself does nothing for it.
 *   - stop() returns within its UNLISTEN deadline when the listening connection is half-open (black-holed).
 * Rows are committed straight to the server, past the proxy.
 */
const logger = createLogger({ service: 'outbox-listen-test', level: 'silent' })
const exchange = defineExchange('relay-listen')
const POLL_MS = 20_000
/** Caps the relay's backoff after a failed claim at 1 s (stallAfterMs / 2). */
const STALL_AFTER_MS = 2000

let db: TestSchema
let rabbit: TestBroker
let consumer: Consumer
const published = new Set<string>()
let proxy: TcpProxy
let relaySql: Sql
let relay: OutboxRelay

beforeAll(async () => {
  db = await createTestSchema('outbox_listen')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
  rabbit = await openTestBroker('outboxlisten', { exchanges: [exchange] })
  consumer = startConsumer(rabbit.broker, {
    def: defineConsumer({
      queue: 'relay-listen.published',
      bindings: [{ exchange, routingKey: '#' }],
      retry: { delaysMs: [100], maxAttempts: 3 },
    }),
    logger,
    handler: async (m) => {
      published.add(m.messageId)
    },
  })
  await consumer.ready()
})

afterAll(async () => {
  await consumer?.stop()
  await rabbit?.close()
  await db?.drop()
})

beforeEach(async () => {
  const { hostname, port } = new URL(testUrls().databaseUrl)
  proxy = await createTcpProxy({ host: hostname, port: Number(port || 5432) })
  relaySql = createSql({ url: proxy.url(testUrls().databaseUrl), schema: db.schema, reconnectBackoffMaxSeconds: 0.5 })
  relay = proxiedRelay()
})

/** The test's relay: through the proxy, polling every POLL_MS. */
const proxiedRelay = (hooks: Pick<OutboxRelayOptions, 'afterClaim'> = {}) =>
  createOutboxRelay({
    sql: relaySql,
    schema: db.schema,
    publisher: rabbit.publisher,
    logger,
    pollIntervalMs: POLL_MS,
    stallAfterMs: STALL_AFTER_MS,
    ...hooks,
  })

afterEach(async () => {
  await relay?.stop()
  await relaySql?.end({ timeout: 1 })
  await proxy?.close()
})

/** Commits one outbox row, past the proxy; resolves with its message id. */
async function commitRow(): Promise<string> {
  const [id] = await db.sql.begin((tx) =>
    enqueue(tx, [{ exchange: exchange.name, routingKey: 'row', body: { at: Date.now() } }]),
  )
  return id as string
}

/** A row committed now is published within `ms`. */
async function publishedWithin(ms: number): Promise<void> {
  const id = await commitRow()
  await waitFor(() => published.has(id), { timeoutMs: ms })
}

/** Rows are announced again: a notification wakes the relay for each of five rows in a row. */
async function notificationsWake(): Promise<void> {
  // LISTEN comes back in the background: the rows committed before it are left to the next poll.
  await waitFor(() => publishedWithin(2000).then(() => true), { timeoutMs: 15_000 })
  for (let i = 0; i < 5; i++) await publishedWithin(2000)
}

describe('the outbox relay is woken', () => {
  it('for a row committed while a claim that found nothing ends, at once rather than at the next poll', async () => {
    let armed = true
    let row: string | undefined
    relay = proxiedRelay({
      // The claim found nothing; before the relay waits, a row commits and its notification arrives.
      afterClaim: async (rows) => {
        if (rows > 0 || !armed) return
        armed = false
        row = await commitRow()
        await sleep(200)
      },
    })
    await relay.start()
    await waitFor(() => row)
    await waitFor(() => published.has(row as string), { timeoutMs: 2000 })
  }, 40_000)

  it('again after the database refused connections when it started', async () => {
    await proxy.down()
    await relay.start()
    await proxy.restore()
    // postgres.js LISTENs again once it connects, without a row to find.
    await sleep(1500)
    await notificationsWake()
  }, 40_000)

  it('again after the database refused connections while it ran', async () => {
    await relay.start()
    await publishedWithin(2000)
    await proxy.down()
    // Long enough for the listening connection's close and its one failed LISTEN.
    await sleep(1500)
    await proxy.restore()
    await notificationsWake()
  }, 60_000)

  it('stops within its UNLISTEN deadline when the listening connection is half-open', async () => {
    await relay.start()
    await publishedWithin(2000)
    // Idle: the claims after that row (its delete, one that finds nothing) are over, and the relay waits for the
    // poll. A claim caught by the black hole would hold stop() until its own deadline, which is not under test.
    await sleep(500)
    // Every connection stays open and moves no byte: UNLISTEN is sent and never answered.
    proxy.blackhole()
    const started = Date.now()
    await relay.stop()
    expect(Date.now() - started).toBeLessThan(5000)
    await proxy.restore()
  }, 20_000)
})
