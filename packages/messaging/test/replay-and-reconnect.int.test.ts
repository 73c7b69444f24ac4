import { createLogger } from '@platform/logging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineConsumer, defineExchange, type IncomingMessage, startConsumer } from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const exchange = defineExchange('replay.events')
const admin = rabbitAdmin()
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('replay', { exchanges: [exchange], heartbeatSeconds: 2 })
})
afterAll(() => rabbit?.close())

describe('operator replay and broker failures', () => {
  it('processes once a dead message moved back with the UI\'s "Move messages" shovel', async () => {
    const def = defineConsumer({
      queue: 'replay.work',
      bindings: [{ exchange, routingKey: 'replay.#' }],
      retry: { delaysMs: [100], maxAttempts: 2 },
    })
    let broken = true
    const runs: IncomingMessage[] = []
    const effects: string[] = []
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async (m) => {
        runs.push(m)
        if (broken) throw new Error('bug in handler')
        effects.push(m.messageId)
      },
    })
    await consumer.ready()
    await rabbit.publisher.publish({
      exchange: exchange.name,
      routingKey: 'replay.x',
      body: { a: 1 },
      messageId: 'dead-1',
    })
    await waitFor(async () => (await admin.getMessages(rabbit.vhost, 'replay.work.dlq', 1)).length === 1)
    expect(runs).toHaveLength(2)

    broken = false // the fix is deployed; the operator moves the message back
    await admin.moveMessages(rabbit.vhost, 'replay.work.dlq', 'replay.work')
    await waitFor(() => effects.length === 1, { message: 'replayed message processed' })
    // The shovel deletes itself once the DLQ is drained ("src-delete-after": "queue-length").
    await waitFor(async () => (await admin.shovels(rabbit.vhost)).length === 0, { timeoutMs: 20_000 })
    await new Promise((r) => setTimeout(r, 500))
    expect(effects).toEqual(['dead-1'])
    const replayed = runs.at(-1)
    expect(replayed?.attempt).toBe(1) // a replay starts afresh, with its retries intact
    expect(replayed?.routingKey).toBe('replay.x') // and still knows where it was first published
    expect(replayed?.headers['x-replays']).toBe(1)
    expect((await admin.getMessages(rabbit.vhost, 'replay.work.dlq', 1)).length).toBe(0)
    await consumer.stop()
  })

  it('resumes publishing and consuming after the server closes the connection; nothing is lost', async () => {
    const def = defineConsumer({
      queue: 'resilient.work',
      bindings: [{ exchange, routingKey: 'resilient.#' }],
      retry: { delaysMs: [100], maxAttempts: 5 },
    })
    const seen = new Set<string>()
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async (m) => {
        seen.add(m.messageId)
        await new Promise((r) => setTimeout(r, 2))
      },
    })
    await consumer.ready()
    // Publish continuously while the server force-closes our connection twice (the UI's "Force Close").
    let stop = false
    let published = 0
    const publishing = (async () => {
      while (!stop) {
        await rabbit.publisher.publish({
          exchange: exchange.name,
          routingKey: 'resilient.n',
          body: { i: published },
          messageId: `r-${published}`,
        })
        published++
        await new Promise((r) => setTimeout(r, 3))
      }
    })()
    for (const round of [1, 2]) {
      // The management API lists a (re)opened connection only after its next stats emission: wait for it.
      await waitFor(async () => (await admin.closeConnections(rabbit.vhost, `chaos round ${round}`)) > 0, {
        timeoutMs: 20_000,
        intervalMs: 250,
      })
      const at = published
      await waitFor(() => published > at + 50, { message: 'publishing resumed after the close' })
    }
    stop = true
    await publishing
    await waitFor(() => seen.size === published, { timeoutMs: 30_000, message: 'every published message consumed' })
    expect([...seen].sort()).toEqual(Array.from({ length: published }, (_, i) => `r-${i}`).sort())
    await consumer.stop()
  })
})
