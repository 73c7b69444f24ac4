import { Writable } from 'node:stream'
import { createLogger } from '@platform/logging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectBroker, defineConsumer, defineExchange, startConsumer } from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const exchange = defineExchange('stop.events')
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('stop', { exchanges: [exchange] })
})
afterAll(() => rabbit?.close())

describe('consumer stop', () => {
  it('finishes the messages in flight and acks them before closing; the rest stay queued', async () => {
    const def = defineConsumer({
      queue: 'stop.work',
      bindings: [{ exchange, routingKey: '#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    const started: string[] = []
    const finished: string[] = []
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      prefetch: 2,
      handler: async (m) => {
        started.push(m.messageId)
        await new Promise((r) => setTimeout(r, 700))
        finished.push(m.messageId)
      },
    })
    await consumer.ready()
    for (let i = 0; i < 6; i++) {
      await rabbit.publisher.publish({ exchange: exchange.name, routingKey: 'k', body: { i }, messageId: `s-${i}` })
    }
    await waitFor(() => started.length === 2)
    await consumer.stop()
    expect(finished.sort()).toEqual([...started].sort())
    expect(finished).toHaveLength(2)
    // The two handled messages were acked; the four never started are still in the queue for the next instance.
    const admin = rabbitAdmin()
    const left = await waitFor(async () => {
      const messages = await admin.getMessages(rabbit.vhost, 'stop.work', 10)
      return messages.length === 4 ? messages : undefined
    })
    expect(left.map((m) => m.properties.message_id).sort()).toEqual(['s-2', 's-3', 's-4', 's-5'])
  })
})

describe('channel setup failures', () => {
  it('are logged, not thrown: a setup cut short by a close or an error leaves no unhandled rejection', async () => {
    const lines: Record<string, unknown>[] = []
    const capture = createLogger({
      service: 'test',
      level: 'warn',
      destination: new Writable({
        write(chunk, _e, done) {
          lines.push(JSON.parse(chunk.toString()))
          done()
        },
      }),
    })
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    const own = connectBroker({ url: rabbit.amqpUrl, name: 'setup-failure-test', logger: capture })
    try {
      // amqp-connection-manager emits 'error' on the channel wrapper when a setup function rejects; an emitter
      // without a listener throws, which surfaced as an unhandled rejection when a service stopped mid-setup.
      own.createChannel({
        name: 'failing-setup',
        setup: async () => {
          throw new Error('setup failed on purpose')
        },
      })
      const line = await waitFor(() => lines.find((l) => l.channel === 'failing-setup'))
      expect(line.err).toBe('setup failed on purpose')
      // A consumer stopped while its topology is still being declared: the pending declarations are rejected with
      // "Channel ended" when its channel closes.
      for (let i = 0; i < 5; i++) {
        const def = defineConsumer({
          queue: `stop.setup.${i}`,
          bindings: [{ exchange, routingKey: '#' }],
          retry: { delaysMs: [100], maxAttempts: 2 },
        })
        const consumer = startConsumer(own, { def, logger, handler: async () => {} })
        await new Promise((r) => setTimeout(r, i * 3))
        await consumer.stop()
      }
      await new Promise((r) => setTimeout(r, 200))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      await own.close()
    }
  })
})
