import { createLogger } from '@platform/logging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  defineConsumer,
  defineEnvelope,
  defineExchange,
  defineMessage,
  HEADERS,
  type MessageEnvelope,
  PermanentError,
  startConsumer,
} from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

/**
 * A consumer given a batch definition handles each message of a batch delivery on its own: its own id, correlation
 * id and attempt; a failing message alone goes to the retry queue and comes back as a single message; a dead one alone
 * lands in the DLQ (where an operator moves it back), while its batch-mates are done once.
 */
const logger = createLogger({ service: 'test', level: 'silent' })
const exchange = defineExchange('test.batches')
const Item = Type.Object({ n: Type.Integer(), fail: Type.Optional(Type.String()) })
const item = defineMessage({ type: 'item.v1', exchange, routingKey: (b) => `item.${b.n}`, schema: Item })
const items = defineEnvelope({ type: 'item.batch.v1', of: item, routingKey: 'item' })
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('batch-split', { exchanges: [exchange] })
})
afterAll(() => rabbit?.close())

const sendBatch = (messageId: string, body: MessageEnvelope<unknown>) =>
  rabbit.publisher.publish({
    exchange: exchange.name,
    routingKey: 'item',
    body,
    messageId,
    type: items.type,
    correlationId: 'corr-batch',
  })

describe('batch deliveries', () => {
  it('handles, retries and dead-letters each message alone; the DLQ holds the dead one only, replayable', async () => {
    // As the catalog declares a consumer: the definition names its message and envelope, and startConsumer takes
    // the schema (m-4 breaks it) and the envelope (split) from there; the handler's type is the message's.
    const def = defineConsumer({
      queue: 'items.work',
      message: item,
      envelope: items,
      bindings: [{ exchange, routingKey: 'item.#' }],
      retry: { delaysMs: [100, 200], maxAttempts: 3 },
    })
    const runs: { id: string; attempt: number; correlationId: string; type: string | undefined; n: number }[] = []
    let healed = false
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async (m) => {
        runs.push({ id: m.messageId, attempt: m.attempt, correlationId: m.correlationId, type: m.type, n: m.body.n })
        if (m.body.fail === 'twice' && m.attempt <= 2) throw new Error(`attempt ${m.attempt} failed`)
        if (m.body.fail === 'always' && !healed) throw new PermanentError('this one is broken')
      },
    })
    await consumer.ready()
    await sendBatch('batch-1', {
      messages: [
        { id: 'm-1', correlationId: 'corr-1', body: { n: 1 } },
        { id: 'm-2', correlationId: 'corr-2', body: { n: 2, fail: 'twice' } },
        { id: 'm-3', correlationId: null, body: { n: 3, fail: 'always' } },
        { id: 'm-4', correlationId: 'corr-4', body: { n: 'not a number' } },
      ],
    })
    const admin = rabbitAdmin()
    const dead = await waitFor(async () => {
      const got = await admin.getMessages(rabbit.vhost, 'items.work.dlq', 10)
      return got.length === 2 && runs.filter((r) => r.id === 'm-2').length === 3 ? got : undefined
    })
    // Each message ran as itself; only the failing one was run again, as a single message.
    expect(runs.filter((r) => r.id === 'm-1')).toEqual([
      { id: 'm-1', attempt: 1, correlationId: 'corr-1', type: 'item.v1', n: 1 },
    ])
    expect(runs.filter((r) => r.id === 'm-2').map((r) => [r.attempt, r.correlationId])).toEqual([
      [1, 'corr-2'],
      [2, 'corr-2'],
      [3, 'corr-2'],
    ])
    // A message without a correlation id of its own keeps the batch's.
    expect(runs.filter((r) => r.id === 'm-3')).toEqual([
      { id: 'm-3', attempt: 1, correlationId: 'corr-batch', type: 'item.v1', n: 3 },
    ])
    // The one that breaks its schema never reached the handler.
    expect(runs.some((r) => r.id === 'm-4')).toBe(false)

    // The DLQ holds those two, each alone, saying why.
    const byId = new Map(dead.map((m) => [m.properties.message_id, m]))
    expect([...byId.keys()].sort()).toEqual(['m-3', 'm-4'])
    const broken = byId.get('m-3')
    expect(broken?.properties.type).toBe('item.v1')
    expect(JSON.parse(broken?.payload ?? '{}')).toEqual({ n: 3, fail: 'always' })
    expect(broken?.properties.headers?.[HEADERS.error]).toMatch(/this one is broken/)
    expect(broken?.properties.headers?.[HEADERS.originalRoutingKey]).toBe('item.3')
    expect(byId.get('m-4')?.properties.headers?.[HEADERS.error]).toMatch(/breaks its schema: \/n/)

    // Moved back (as the UI's "Move messages" does) once fixed: it runs once more, as a single message, and passes.
    healed = true
    const moved = await admin.getMessages(rabbit.vhost, 'items.work.dlq', 10, false)
    for (const m of moved.filter((x) => x.properties.message_id === 'm-3')) {
      await rabbit.publisher.publish({
        exchange: '',
        routingKey: 'items.work',
        body: Buffer.from(m.payload),
        messageId: 'm-3',
        type: 'item.v1',
        headers: m.properties.headers ?? {},
      })
    }
    await waitFor(() => runs.filter((r) => r.id === 'm-3').length === 2)
    await new Promise((r) => setTimeout(r, 300))
    expect(runs.filter((r) => r.id === 'm-3').map((r) => r.attempt)).toEqual([1, 1])
    expect(runs.filter((r) => r.id === 'm-1')).toHaveLength(1)
    const again = await admin.getMessages(rabbit.vhost, 'items.work.dlq', 10)
    expect(again.map((m) => m.properties.message_id)).not.toContain('m-3')
    await consumer.stop()
  })

  it('handles messages of batches at most `prefetch` at once, across the batches in flight', async () => {
    const def = defineConsumer({
      queue: 'items.slots',
      bindings: [{ exchange, routingKey: 'item.#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    let running = 0
    let most = 0
    const done: string[] = []
    const consumer = startConsumer<{ n: number }>(rabbit.broker, {
      def,
      logger,
      schema: Item,
      envelope: items,
      prefetch: 3,
      handler: async (m) => {
        running++
        most = Math.max(most, running)
        await new Promise((r) => setTimeout(r, 30))
        running--
        done.push(m.messageId)
      },
    })
    await consumer.ready()
    const batchOf = (prefix: string) => ({
      messages: Array.from({ length: 6 }, (_, i) => ({ id: `${prefix}-${i}`, correlationId: null, body: { n: i } })),
    })
    await Promise.all([sendBatch('slots-a', batchOf('a')), sendBatch('slots-b', batchOf('b'))])
    await waitFor(() => done.length === 12)
    expect(most).toBe(3)
    expect(new Set(done).size).toBe(12)
    await consumer.stop()
  })

  it('dead-letters a batch whose envelope is broken, whole, with the reason; messages of other types pass', async () => {
    const def = defineConsumer({
      queue: 'items.envelope',
      bindings: [{ exchange, routingKey: 'item.#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    const seen: string[] = []
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      schema: Item,
      envelope: items,
      handler: async (m) => {
        seen.push(m.messageId)
      },
    })
    await consumer.ready()
    await sendBatch('batch-broken', { messages: [] })
    await rabbit.publisher.publish({
      exchange: exchange.name,
      routingKey: 'item.9',
      body: { n: 9 },
      messageId: 'single-9',
      type: item.type,
    })
    const [dead] = await waitFor(async () => {
      const got = await rabbitAdmin().getMessages(rabbit.vhost, 'items.envelope.dlq', 1)
      return got.length ? got : undefined
    })
    expect(dead?.properties.message_id).toBe('batch-broken')
    expect(dead?.properties.headers?.[HEADERS.error]).toMatch(/not a item\.batch\.v1 envelope/)
    await waitFor(() => seen.includes('single-9'))
    expect(seen).toEqual(['single-9'])
    await consumer.stop()
  })
})
