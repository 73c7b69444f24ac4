import { Writable } from 'node:stream'
import { createLogger } from '@platform/logging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import amqp from 'amqplib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DLQ_DELIVERY_LIMIT, defineConsumer, defineExchange, HEADERS, PermanentError, startConsumer } from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

/**
 * A dead message must survive any number of looks in the management UI ("Get messages", requeue true): each look is
 * a delivery and a requeue, and quorum queues count those. RabbitMQ 4 drops a message after 20 of them unless the
 * queue has a delivery limit of its own (docs/operations.md#dead-letter-queues). The broker here is 3.10, which has
 * no default limit, so the test also checks the declared limit itself (and that the looks were counted).
 */
const LOOKS = 25
const exchange = defineExchange('dlq.events')
const admin = rabbitAdmin()
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('dlqlooks', { exchanges: [exchange] })
})
afterAll(() => rabbit?.close())

function capturedLogger() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { lines, logger: createLogger({ service: 'test', level: 'info', destination }) }
}

describe('the dead-letter queue', () => {
  it(`keeps a dead message, body and headers, through ${LOOKS} "Get messages" with requeue`, async () => {
    const def = defineConsumer({
      queue: 'looked.work',
      bindings: [{ exchange, routingKey: 'looked.#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger: capturedLogger().logger,
      handler: async () => {
        throw new PermanentError('unknown order 42')
      },
    })
    await consumer.ready()
    await rabbit.publisher.publish({
      exchange: exchange.name,
      routingKey: 'looked.one',
      body: { order: 42, note: 'keep me' },
      messageId: 'm-looked-1',
      type: 'test.v1',
      headers: { 'x-custom': 'abc' },
    })
    const [first] = await waitFor(async () => {
      const got = await admin.getMessages(rabbit.vhost, 'looked.work.dlq', 1)
      return got.length ? got : undefined
    })
    await consumer.stop()

    // The declared limit, as the management API reports the queue's arguments.
    const limit = (await admin.queue(rabbit.vhost, 'looked.work.dlq')).arguments['x-delivery-limit']
    expect(limit, 'x-delivery-limit of the DLQ').toBeGreaterThan(LOOKS)
    expect(limit).toBe(DLQ_DELIVERY_LIMIT)

    const { 'x-delivery-count': _, ...firstHeaders } = first?.properties.headers ?? {}
    expect(firstHeaders[HEADERS.error]).toBe('PermanentError: unknown order 42')
    expect(firstHeaders['x-custom']).toBe('abc')
    let last = first
    for (let look = 2; look <= LOOKS; look++) {
      const got = await admin.getMessages(rabbit.vhost, 'looked.work.dlq', 1, true)
      expect(got, `look ${look}`).toHaveLength(1)
      last = got[0]
      const { 'x-delivery-count': __, ...headers } = last?.properties.headers ?? {}
      expect(JSON.parse(last?.payload ?? 'null')).toEqual({ order: 42, note: 'keep me' })
      expect(headers).toEqual(firstHeaders)
      expect(last?.properties.message_id).toBe('m-looked-1')
      expect(last?.properties.type).toBe('test.v1')
    }
    // Every look was counted as a delivery: with RabbitMQ 4's default limit of 20 the message would be gone.
    expect(Number(last?.properties.headers?.['x-delivery-count'])).toBeGreaterThanOrEqual(LOOKS - 1)
  })

  it('keeps consuming when its DLQ was declared by an older version, and logs the policy to apply', async () => {
    // The DLQ as the previous version declared it: a quorum queue without x-delivery-limit.
    const connection = await amqp.connect(rabbit.amqpUrl)
    const ch = await connection.createChannel()
    await ch.assertQueue('old.work.dlq', { durable: true, arguments: { 'x-queue-type': 'quorum' } })
    await connection.close()

    const { lines, logger } = capturedLogger()
    const def = defineConsumer({
      queue: 'old.work',
      bindings: [{ exchange, routingKey: 'old.#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async () => {
        throw new PermanentError('still broken')
      },
    })
    await consumer.ready()
    await rabbit.publisher.publish({ exchange: exchange.name, routingKey: 'old.one', body: {}, messageId: 'm-old-1' })
    const [dead] = await waitFor(async () => {
      const got = await admin.getMessages(rabbit.vhost, 'old.work.dlq', 1)
      return got.length ? got : undefined
    })
    await consumer.stop()
    expect(dead?.properties.message_id).toBe('m-old-1')
    const warning = lines.find((l) => l.queue === 'old.work.dlq' && l.level === 'warn')
    expect(warning?.msg).toMatch(/older version .*docs\/operations.md#dead-letter-queues/)
    expect(warning?.fix).toContain(`"delivery-limit":${DLQ_DELIVERY_LIMIT}`)
    expect(warning?.err).toMatch(/PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit'/)
  })
})
