import type { Worker } from 'node:worker_threads'
import { migrate } from '@platform/db'
import { createInbox, inboxMigrations } from '@platform/inbox'
import { createLogger } from '@platform/logging'
import { type Consumer, defineConsumer, defineExchange, type IncomingMessage, startConsumer } from '@platform/messaging'
import { openTestBroker, type TestBroker } from '@platform/messaging/testing'
import { createRegistry } from '@platform/metrics'
import { createTestSchema, sleep, startTsProcess, type TestSchema, testUrls, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOutboxRelay, createThreadedOutboxRelay, enqueue, outboxMigrations } from '../index.js'
import { relayThreadRunning } from './fixtures/relay-thread-running.js'

const logger = createLogger({ service: 'outbox-test', level: 'silent' })
const exchange = defineExchange('orders')
let db: TestSchema
let rabbit: TestBroker
let consumer: Consumer
const received: Pick<
  IncomingMessage<{ key: string; seq: number }>,
  'messageId' | 'body' | 'type' | 'correlationId' | 'headers'
>[] = []

beforeAll(async () => {
  db = await createTestSchema('outbox')
  await migrate(db.sql, { schema: db.schema, migrations: [...outboxMigrations, ...inboxMigrations] })
  await db.sql`create table effects (message_id text primary key, applied_at timestamptz default now())`
  rabbit = await openTestBroker('outbox', { exchanges: [exchange] })
  const inbox = createInbox(db.sql, 'effects-consumer')
  consumer = startConsumer<{ key: string; seq: number }>(rabbit.broker, {
    def: defineConsumer({
      queue: 'effects.work',
      bindings: [{ exchange, routingKey: '#' }],
      retry: { delaysMs: [100], maxAttempts: 3 },
    }),
    logger,
    prefetch: 200,
    handler: async (m) => {
      received.push({
        messageId: m.messageId,
        body: m.body,
        type: m.type,
        correlationId: m.correlationId,
        headers: m.headers,
      })
      await inbox.process(m.messageId, async (tx) => {
        await tx`insert into effects (message_id) values (${m.messageId})`
      })
    },
  })
  await consumer.ready()
})

afterAll(async () => {
  await consumer?.stop()
  await rabbit?.close()
  await db?.drop()
})

const message = (key: string, seq: number) => ({
  exchange: exchange.name,
  routingKey: `order.${key}`,
  body: { key, seq },
  orderingKey: key,
})

describe('transactional outbox', () => {
  it('publishes what a committed transaction enqueued and nothing of a rolled-back one', async () => {
    const relay = createOutboxRelay({ sql: db.sql, schema: db.schema, publisher: rabbit.publisher, logger })
    await relay.start()
    const before = received.length
    const [committed] = await db.sql.begin((tx) => enqueue(tx, message('commit', 1)))
    const rolledBack: string[] = []
    await db.sql
      .begin(async (tx) => {
        rolledBack.push(...(await enqueue(tx, message('rollback', 1))))
        throw new Error('business rule failed')
      })
      .catch(() => {})
    await waitFor(() => received.some((r) => r.messageId === committed))
    await new Promise((r) => setTimeout(r, 500))
    expect(received.slice(before).map((r) => r.messageId)).toEqual([committed])
    expect(received.some((r) => r.messageId === rolledBack[0])).toBe(false)
    const [left] = await db.sql`select count(*)::int as n from outbox`
    expect(left?.n).toBe(0)
    await relay.stop()
  })

  it("publishes a row's body text and properties as they were enqueued", async () => {
    const relay = createOutboxRelay({ sql: db.sql, schema: db.schema, publisher: rabbit.publisher, logger })
    await relay.start()
    // Text of 2-, 3- and 4-byte UTF-8 characters: the relay hands the broker the bytes PostgreSQL sent, undecoded.
    const bodyJson = '{"seq": 7, "key": "grüße €😀"}'
    const [id] = await db.sql.begin((tx) =>
      enqueue(tx, {
        exchange: exchange.name,
        routingKey: 'order.props',
        body: undefined,
        bodyJson,
        type: 'orders.props.v1',
        headers: { 'x-event-count': 3, note: 'ä' },
        correlationId: 'corr-props-1',
      }),
    )
    await waitFor(() => received.some((r) => r.messageId === id))
    await relay.stop()
    expect(received.find((r) => r.messageId === id)).toMatchObject({
      body: { seq: 7, key: 'grüße €😀' },
      type: 'orders.props.v1',
      correlationId: 'corr-props-1',
      headers: { 'x-event-count': 3, note: 'ä' },
    })
  })

  it('republishes after a relay is SIGKILLed between publish and delete; the inbox applies the effect once', async () => {
    const ids = await db.sql.begin((tx) => enqueue(tx, [message('crash', 1), message('crash', 2), message('crash', 3)]))
    const dying = startTsProcess(new URL('./fixtures/relay-that-dies.ts', import.meta.url).pathname, {
      OUTBOX_SCHEMA: db.schema,
      DATABASE_URL: testUrls().databaseUrl,
      AMQP_URL: rabbit.amqpUrl,
    })
    await dying.waitForOutput(/dying before delete/)
    expect(await dying.exited).toBe('SIGKILL')
    // The rows are still there: the relay died before deleting them.
    const [still] = await db.sql`select count(*)::int as n from outbox where message_id = any(${ids}::uuid[])`
    expect(still?.n).toBe(3)
    await waitFor(() => ids.every((id) => received.some((r) => r.messageId === id)))

    const relay = createOutboxRelay({ sql: db.sql, schema: db.schema, publisher: rabbit.publisher, logger })
    await relay.start()
    await waitFor(() => ids.every((id) => received.filter((r) => r.messageId === id).length === 2), {
      message: 'every message delivered twice (once per relay)',
    })
    await relay.stop()
    const effects = await db.sql`select message_id from effects where message_id = any(${ids})`
    expect(effects).toHaveLength(3)
  })

  // Its own time limit: 43 s in a loaded CI run, over 60 s in another on a slower machine (the writers' 20 ms sleeps
  // inside their transactions, and the suite's other files on the same two cores). It checks correctness, not speed.
  it('publishes 10,000 rows from 20 writers whose commits interleave: none skipped, per-key order kept', async () => {
    const relays = [1, 2].map(() =>
      createOutboxRelay({
        sql: db.sql,
        schema: db.schema,
        publisher: rabbit.publisher,
        logger,
        batchSize: 300,
        pollIntervalMs: 200,
      }),
    )
    await Promise.all(relays.map((r) => r.start()))
    const before = received.length
    const writers = 20
    const perWriter = 500
    const expected = new Set<string>()
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        let seq = 0
        while (seq < perWriter) {
          const size = 1 + Math.floor(Math.random() * 40)
          const batch = Array.from({ length: Math.min(size, perWriter - seq) }, () => message(`w${w}`, seq++))
          const ids = await db.sql.begin(async (tx) => {
            const ids = await enqueue(tx, batch)
            // Hold the transaction open a random while after taking ids, so commits land out of id order.
            await tx`select pg_sleep(${Math.random() * 0.02})`
            return ids
          })
          for (const id of ids) expected.add(id)
        }
      }),
    )
    expect(expected.size).toBe(writers * perWriter)
    await waitFor(() => new Set(received.slice(before).map((r) => r.messageId)).size === expected.size, {
      timeoutMs: 120_000,
      message: 'all 10,000 published',
    })
    await Promise.all(relays.map((r) => r.stop()))
    const got = received.slice(before)
    expect(got.every((r) => expected.has(r.messageId))).toBe(true)
    // Each writer's key was written by one serial writer, so its sequence numbers must arrive in order.
    const lastSeq = new Map<string, number>()
    for (const { body } of got) {
      const previous = lastSeq.get(body.key) ?? -1
      expect(body.seq, `order of ${body.key}`).toBeGreaterThan(previous)
      lastSeq.set(body.key, body.seq)
    }
  }, 150_000)

  it('keeps up with a steady stream in few claims: a claim that did not fill a batch waits minClaimIntervalMs', async () => {
    const registry = createRegistry({ service: 'outbox-test' })
    const relay = createOutboxRelay({
      sql: db.sql,
      schema: db.schema,
      publisher: rabbit.publisher,
      logger,
      registry,
      minClaimIntervalMs: 250,
    })
    await relay.start()
    // 100 commits ~5 ms apart (~1 s, longer on a busy machine): each commit notifies the relay, which without the
    // interval claims after each.
    const ids: string[] = []
    const started = Date.now()
    for (let seq = 0; seq < 100; seq++) {
      ids.push(...(await enqueue(db.sql, message('steady', seq))))
      await sleep(5)
    }
    const streamed = Date.now() - started
    await waitFor(() => ids.every((id) => received.some((r) => r.messageId === id)), {
      message: 'every row of the stream published',
    })
    await relay.stop()
    const claims = Number(/^outbox_claims_total\{[^}]*\} (\d+)$/m.exec(await registry.metrics())?.[1])
    // One claim per 250 ms of stream, and a few for the last rows. Claiming whenever notified, the relay made 23
    // claims in a 1 s stream here (each claim takes a while, so commits pile up during it), and one per commit at most.
    expect(claims).toBeGreaterThanOrEqual(3)
    expect(claims).toBeLessThanOrEqual(Math.ceil(streamed / 250) + 4)
  })

  it('stops at once while it waits out the interval between claims', async () => {
    const relay = createOutboxRelay({
      sql: db.sql,
      schema: db.schema,
      publisher: rabbit.publisher,
      logger,
      minClaimIntervalMs: 60_000,
    })
    await relay.start()
    const [id] = await enqueue(db.sql, message('pause', 0))
    await waitFor(() => received.some((r) => r.messageId === id))
    const stopping = Date.now()
    await relay.stop()
    expect(Date.now() - stopping).toBeLessThan(2000)
  })
})

describe('the outbox relay on a worker thread', () => {
  const threaded = (registry = createRegistry({ service: 'outbox-test' }), onThread?: (thread: Worker) => void) =>
    createThreadedOutboxRelay({
      service: 'outbox-test',
      databaseUrl: testUrls().databaseUrl,
      amqpUrl: rabbit.amqpUrl,
      schema: db.schema,
      logLevel: 'silent',
      logger,
      sql: db.sql,
      registry,
      ...(onThread ? { onThread } : {}),
    })
  const sample = async (registry: ReturnType<typeof createRegistry>, name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'm').exec(await registry.metrics())?.[1])

  it("publishes committed rows from its own thread and counts them in the parent's registry", async () => {
    const registry = createRegistry({ service: 'outbox-test' })
    let thread: Promise<void> | undefined
    const relay = threaded(registry, (t) => {
      thread ??= relayThreadRunning(t)
    })
    await relay.start()
    await thread
    const ids = await db.sql.begin((tx) => enqueue(tx, [message('thread', 1), message('thread', 2)]))
    await waitFor(() => ids.every((id) => received.some((r) => r.messageId === id)), { message: 'both published' })
    await waitFor(async () => (await sample(registry, 'outbox_published_total')) >= 2, {
      message: 'the parent counted what the thread published',
    })
    expect(await sample(registry, 'outbox_claims_total')).toBeGreaterThanOrEqual(1)
    // The gauge reads the table from the parent's pool: nothing is left.
    expect(await sample(registry, 'outbox_oldest_unpublished_seconds')).toBe(0)
    const stopping = Date.now()
    await relay.stop()
    expect(Date.now() - stopping).toBeLessThan(5000)
  }, 90_000) // the thread's start (up to 40 s) and the waits after it

  it('replaces a thread that dies, and the new one publishes what is left', async () => {
    const threads: Worker[] = []
    const runs: Promise<void>[] = []
    const registry = createRegistry({ service: 'outbox-test' })
    const relay = threaded(registry, (thread) => {
      threads.push(thread)
      // Listened to from its start, so its ready message cannot pass unseen; the first one is terminated unready.
      if (threads.length === 2) runs.push(relayThreadRunning(thread))
    })
    await relay.start()
    await threads[0]?.terminate()
    // Committed while no relay thread runs: the rows wait in the table.
    const ids = await db.sql.begin((tx) => enqueue(tx, [message('orphan', 1), message('orphan', 2)]))
    await waitFor(() => threads.length === 2, { message: 'a second thread started', timeoutMs: 10_000 })
    await runs[0]
    await waitFor(() => ids.every((id) => received.some((r) => r.messageId === id)), {
      message: 'the second thread published the rows',
    })
    expect(await sample(registry, 'outbox_publish_failures_total')).toBeGreaterThanOrEqual(1)
    await relay.stop()
  }, 90_000) // the second thread's start (up to 40 s) and the waits around it

  it('drains through the thread, and refuses to drain before it started', async () => {
    const relay = threaded()
    await expect(relay.drain()).rejects.toThrow(/not running/)
    await relay.start()
    await relay.stop()
    // Stopped: nothing runs until the rows below are drained by a started relay.
    const ids = await enqueue(db.sql, [message('drain', 1), message('drain', 2), message('drain', 3)])
    const again = threaded()
    await again.start()
    // drain() returns once the table is empty (its own loop may have published some rows first).
    expect(typeof (await again.drain())).toBe('number')
    const [left] = await db.sql<{ n: number }[]>`select count(*)::int as n from outbox`
    expect(left?.n).toBe(0)
    await waitFor(() => ids.every((id) => received.some((r) => r.messageId === id)))
    await again.stop()
  })
})
