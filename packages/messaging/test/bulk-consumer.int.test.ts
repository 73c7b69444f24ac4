/**
 * The bulk consumer (packages/messaging/lib/bulk-consumer.ts) against a real RabbitMQ: flush triggers, acks only
 * after the handler resolved, dead-lettering with the messaging package's headers, and a channel lost mid-batch.
 */
import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import { rabbitAdmin, waitFor } from '@platform/testing'
import Type from 'typebox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type BulkMessage,
  type BulkPolicy,
  defineConsumer,
  defineExchange,
  HEADERS,
  jsonDecode,
  startBulkConsumer,
} from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

const logger = createLogger({ service: 'batch-test', level: 'silent' })
const exchange = defineExchange('batch.test')
const admin = rabbitAdmin()
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('batch', { exchanges: [exchange] })
})
afterAll(() => rabbit?.close())

const Body = Type.Object({ n: Type.Integer(), pad: Type.Optional(Type.String()) })

function definition(name: string) {
  return defineConsumer({
    queue: `bc.${name}`,
    bindings: [{ exchange, routingKey: `${name}.#` }],
    retry: { delaysMs: [1000], maxAttempts: 3 },
  })
}

const send = (name: string, bodies: unknown[]) =>
  rabbit.publisher.publishBatch(
    bodies.map((body, i) => ({ exchange: exchange.name, routingKey: `${name}.x`, body, messageId: `${name}-${i}` })),
  )

/** Declares the queue (a consumer started and stopped), so messages published before the next start wait there. */
async function declare(name: string) {
  const c = startBulkConsumer(rabbit.broker, { def: definition(name), logger, handler: async () => {} })
  await c.ready()
  await c.stop()
}

function consume(
  name: string,
  policy: Partial<BulkPolicy>,
  handler: (batch: BulkMessage<{ n: number }>[]) => Promise<unknown> = async () => undefined,
) {
  const batches: number[][] = []
  const consumer = startBulkConsumer<{ n: number }>(rabbit.broker, {
    def: definition(name),
    logger,
    schema: Body,
    policy,
    prefetch: 100,
    backoff: { initialMs: 50, maxMs: 200 },
    handler: async (batch) => {
      batches.push(batch.map((m) => m.body.n))
      return (await handler(batch)) as undefined
    },
  })
  return { consumer, batches }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => ({ n: i }))

describe('bulk consumer', () => {
  it('flushes at N rows, and the remainder when the oldest has waited T ms', async () => {
    await declare('rows')
    await send('rows', range(25))
    const { consumer, batches } = consume('rows', { maxRows: 10, maxWaitMs: 500, maxBytes: 1e6 })
    await consumer.ready()
    await waitFor(() => batches.flat().length === 25)
    expect(batches).toEqual([
      range(10).map((x) => x.n),
      range(20)
        .slice(10)
        .map((x) => x.n),
      [20, 21, 22, 23, 24],
    ])
    await consumer.stop()
  })

  it("reports the gauges of every bulk consumer of a registry under its queue, summed over a queue's consumers", async () => {
    // The gauges' collect is the first consumer's (@platform/metrics hands the registered gauge to the others): it
    // must report the second consumer's queue too, or that queue's backlog and age are never exported.
    const registry = createRegistry()
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const start = (name: string) =>
      startBulkConsumer<{ n: number }>(rabbit.broker, {
        def: definition(name),
        logger,
        registry,
        schema: Body,
        policy: { maxRows: 100, maxWaitMs: 10, maxBytes: 1e6 },
        prefetch: 100,
        handler: () => held,
      })
    const first = start('gauges-a')
    const second = start('gauges-b')
    // A second consumer of the first queue: the queue's pending messages are the sum of both consumers'.
    const third = start('gauges-a')
    await Promise.all([first.ready(), second.ready(), third.ready()])
    await send('gauges-a', range(2))
    await send('gauges-b', range(3))
    await waitFor(() => first.pending() + third.pending() === 2 && second.pending() === 3)
    const text = await registry.metrics()
    expect(text).toMatch(/bulk_consumer_pending\{queue="bc.gauges-a"\} 2/)
    expect(text).toMatch(/bulk_consumer_pending\{queue="bc.gauges-b"\} 3/)
    expect(text).toMatch(/bulk_consumer_oldest_pending_seconds\{queue="bc.gauges-b"\} [0-9.]+/)
    expect(text).toMatch(/bulk_consumer_queue_depth\{queue="bc.gauges-b"\} 0/)
    release()
    await waitFor(() => first.pending() + second.pending() + third.pending() === 0)
    await Promise.all([first.stop(), second.stop(), third.stop()])
  })

  it('flushes at B bytes, never putting more than B in one batch', async () => {
    await declare('bytes')
    const pad = 'p'.repeat(380) // each body is a little over 400 bytes
    await send(
      'bytes',
      range(6).map((x) => ({ ...x, pad })),
    )
    const { consumer, batches } = consume('bytes', { maxRows: 100, maxWaitMs: 60_000, maxBytes: 1000 })
    await consumer.ready()
    await waitFor(() => batches.flat().length >= 4)
    expect(batches.slice(0, 2)).toEqual([
      [0, 1],
      [2, 3],
    ])
    await consumer.stop() // the last two are written on stop, not left behind
    expect(batches.flat()).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('acks nothing while the handler fails and retries the same batch; acks all once it succeeds', async () => {
    await declare('flaky')
    await send('flaky', range(5))
    const heldDuringFailures: number[] = []
    const { consumer, batches } = consume('flaky', { maxRows: 5, maxWaitMs: 100 }, async () => {
      if (batches.length <= 3) {
        heldDuringFailures.push(consumer.pending())
        throw new Error('sink down')
      }
    })
    await consumer.ready()
    await waitFor(() => batches.length === 4)
    expect(batches.every((b) => b.join() === '0,1,2,3,4')).toBe(true)
    // While failing, all five stayed delivered-and-unacked: none went back to the queue, none was acked.
    expect(heldDuringFailures).toEqual([5, 5, 5])
    await waitFor(() => consumer.pending() === 0)
    expect(await consumer.queueDepth()).toBe(0)
    await consumer.stop()
  })

  it('dead-letters what the handler names and what breaks the schema, with the reason; acks the rest', async () => {
    await declare('dead')
    await send('dead', [{ n: 0 }, { n: 1 }, { n: 'not a number' }, { n: 3 }])
    const { consumer, batches } = consume('dead', { maxRows: 3, maxWaitMs: 100 }, async (batch) => ({
      dead: batch.filter((m) => m.body.n === 1).map((message) => ({ message, error: new Error('row 1 rejected') })),
    }))
    await consumer.ready()
    const dlq = await waitFor(async () => {
      const messages = await admin.getMessages(rabbit.vhost, 'bc.dead.dlq', 10)
      return messages.length === 2 ? messages : undefined
    })
    expect(batches.flat()).toEqual([0, 1, 3])
    const byId = new Map(dlq.map((m) => [m.properties.message_id, m.properties.headers ?? {}]))
    expect(byId.get('dead-1')).toMatchObject({
      [HEADERS.error]: 'Error: row 1 rejected',
      [HEADERS.deadLetteredBy]: 'bc.dead',
      [HEADERS.originalExchange]: exchange.name,
      [HEADERS.originalRoutingKey]: 'dead.x',
      [HEADERS.attempts]: 1,
    })
    expect(String(byId.get('dead-2')?.[HEADERS.error])).toContain('breaks its schema')
    await waitFor(() => consumer.pending() === 0)
    expect(await consumer.queueDepth()).toBe(0)
    await consumer.stop()
  })

  it('hands bodies to the handler as its decode returns them; one the decode throws on is dead-lettered', async () => {
    await declare('decode')
    const raw = (n: number, body: string, type: string) => ({
      exchange: exchange.name,
      routingKey: 'decode.x',
      body: Buffer.from(body),
      messageId: `decode-${n}`,
      type,
      headers: { 'x-count': n },
    })
    await rabbit.publisher.publishBatch([
      raw(0, '{"n":0}', 'json'),
      raw(1, 'n=1, not JSON', 'text'),
      raw(2, 'n=2', 'text'),
      raw(3, 'broken', 'text'),
    ])
    const seen: unknown[] = []
    const consumer = startBulkConsumer<unknown>(rabbit.broker, {
      def: definition('decode'),
      logger,
      policy: { maxRows: 3, maxWaitMs: 100 },
      decode: (content, { type, headers }) => {
        if (type === 'json') return jsonDecode(Body)(content)
        if (!content.toString().startsWith('n=')) throw new Error('text body does not start with n=')
        return { text: content.toString(), count: headers['x-count'] }
      },
      handler: async (batch) => {
        seen.push(...batch.map((m) => m.body))
      },
    })
    await consumer.ready()
    const [dead] = await waitFor(async () => {
      const messages = await admin.getMessages(rabbit.vhost, 'bc.decode.dlq', 10)
      return messages.length === 1 ? messages : undefined
    })
    expect(dead?.properties.message_id).toBe('decode-3')
    expect(dead?.properties.headers?.[HEADERS.error]).toBe('Error: text body does not start with n=')
    await waitFor(() => seen.length === 3)
    expect(seen).toEqual([{ n: 0 }, { text: 'n=1, not JSON', count: 1 }, { text: 'n=2', count: 2 }])
    await consumer.stop()
    expect(() =>
      startBulkConsumer(rabbit.broker, {
        def: definition('both'),
        logger,
        schema: Body,
        decode: () => 1,
        handler: async () => {},
      }),
    ).toThrow(/schema or a decode/)
  })

  it('drops a batch whose channel was lost instead of acking it on the new channel; the broker redelivers it', async () => {
    await declare('lost')
    await send('lost', range(3))
    let release: () => void = () => {}
    const first = new Promise<void>((resolve) => {
      release = resolve
    })
    const seen: { n: number[]; redelivered: boolean }[] = []
    const { consumer } = consume('lost', { maxRows: 3, maxWaitMs: 100 }, async (batch) => {
      seen.push({ n: batch.map((m) => m.body.n), redelivered: batch.every((m) => m.redelivered) })
      if (seen.length === 1) await first
    })
    await consumer.ready()
    await waitFor(() => seen.length === 1)
    // The management API lists a connection some seconds after it opened.
    await waitFor(async () => (await admin.closeConnections(rabbit.vhost, 'test: connection lost mid-batch')) > 0, {
      timeoutMs: 20_000,
      intervalMs: 250,
    })
    release()
    await waitFor(() => seen.length === 2, { timeoutMs: 20_000 })
    expect(seen[1]).toEqual({ n: [0, 1, 2], redelivered: true })
    await waitFor(() => consumer.pending() === 0)
    expect(await consumer.queueDepth()).toBe(0)
    await consumer.stop()
  })
})
