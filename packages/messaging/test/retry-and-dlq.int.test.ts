import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  defineConsumer,
  defineExchange,
  HEADERS,
  type IncomingMessage,
  PermanentError,
  RetryableError,
  startConsumer,
} from '../index.js'
import { openTestBroker, type TestBroker } from '../lib/testing.js'

const logger = createLogger({ service: 'test', level: 'silent' })
const exchange = defineExchange('test.events')
let rabbit: TestBroker

beforeAll(async () => {
  rabbit = await openTestBroker('retry', { exchanges: [exchange] })
})
afterAll(() => rabbit?.close())

const send = (routingKey: string, body: unknown, messageId: string) =>
  rabbit.publisher.publish({ exchange: exchange.name, routingKey, body, messageId, type: 'test.v1' })

describe('retry tiers and the dead-letter queue', () => {
  it('runs a handler that fails twice then succeeds three times, with increasing delays', async () => {
    const def = defineConsumer({
      queue: 'flaky.work',
      bindings: [{ exchange, routingKey: 'flaky.#' }],
      retry: { delaysMs: [300, 1200], maxAttempts: 5 },
    })
    const runs: { at: number; attempt: number }[] = []
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async (m: IncomingMessage) => {
        runs.push({ at: Date.now(), attempt: m.attempt })
        if (runs.length <= 2) throw new Error(`failure ${runs.length}`)
      },
    })
    await consumer.ready()
    await send('flaky.one', { n: 1 }, 'm-flaky-1')
    await waitFor(() => runs.length === 3, { timeoutMs: 10_000 })
    await new Promise((r) => setTimeout(r, 500))
    expect(runs.map((r) => r.attempt)).toEqual([1, 2, 3])
    const first = (runs[1]?.at ?? 0) - (runs[0]?.at ?? 0)
    const second = (runs[2]?.at ?? 0) - (runs[1]?.at ?? 0)
    expect(first).toBeGreaterThanOrEqual(280)
    expect(second).toBeGreaterThanOrEqual(1150)
    expect(second).toBeGreaterThan(first)
    await consumer.stop()
  })

  it('dead-letters a message that always fails after the configured attempts, with headers that say why', async () => {
    const def = defineConsumer({
      queue: 'broken.work',
      bindings: [{ exchange, routingKey: 'broken.#' }],
      retry: { delaysMs: [100, 200], maxAttempts: 3 },
    })
    let runs = 0
    const consumer = startConsumer(rabbit.broker, {
      def,
      logger,
      handler: async () => {
        runs++
        throw new Error('downstream said no')
      },
    })
    await consumer.ready()
    await send('broken.thing', { n: 2 }, 'm-broken-1')
    const admin = rabbitAdmin()
    const [dead] = await waitFor(async () => {
      const messages = await admin.getMessages(rabbit.vhost, 'broken.work.dlq', 1)
      return messages.length ? messages : undefined
    })
    expect(runs).toBe(3)
    const headers = dead?.properties.headers ?? {}
    expect(headers[HEADERS.error]).toMatch(/gave up after 3 attempts: Error: downstream said no/)
    expect(headers[HEADERS.attempts]).toBe(3)
    expect(headers[HEADERS.originalExchange]).toBe('test.events')
    expect(headers[HEADERS.originalRoutingKey]).toBe('broken.thing')
    expect(Date.parse(String(headers[HEADERS.firstFailureAt]))).toBeLessThanOrEqual(
      Date.parse(String(headers[HEADERS.lastFailureAt])),
    )
    expect(headers[HEADERS.attempt]).toBeUndefined()
    expect(dead?.properties.message_id).toBe('m-broken-1')
    await consumer.stop()
  })

  it('dead-letters at once on a permanent error or a body that breaks the schema, and honours Retry-After', async () => {
    const def = defineConsumer({
      queue: 'picky.work',
      bindings: [{ exchange, routingKey: 'picky.#' }],
      retry: { delaysMs: [100, 2000], maxAttempts: 5 },
    })
    const seen: Record<string, number[]> = {}
    const registry = createRegistry()
    const consumer = startConsumer<{ kind: string }>(rabbit.broker, {
      def,
      logger,
      registry,
      handler: async (m) => {
        seen[m.body.kind] = [...(seen[m.body.kind] ?? []), Date.now()]
        if (m.body.kind === 'permanent') throw new PermanentError('unknown order')
        if (m.body.kind === 'later' && m.attempt === 1) throw new RetryableError('busy', { retryAfterMs: 1500 })
      },
    })
    await consumer.ready()
    await send('picky.a', { kind: 'permanent' }, 'p-1')
    await send('picky.b', { kind: 'later' }, 'p-2')
    await rabbit.publisher.publish({
      exchange: exchange.name,
      routingKey: 'picky.c',
      body: Buffer.from('{not json'),
      messageId: 'p-3',
    })
    const admin = rabbitAdmin()
    await waitFor(async () => (await admin.getMessages(rabbit.vhost, 'picky.work.dlq', 5)).length === 2, {
      timeoutMs: 10_000,
    })
    const dead = await admin.getMessages(rabbit.vhost, 'picky.work.dlq', 5)
    const byId = Object.fromEntries(dead.map((d) => [d.properties.message_id, d.properties.headers?.[HEADERS.error]]))
    expect(byId['p-1']).toMatch(/PermanentError: unknown order/)
    expect(byId['p-3']).toMatch(/not valid JSON/)
    expect(seen.permanent).toHaveLength(1)
    await waitFor(() => seen.later?.length === 2, { timeoutMs: 10_000 })
    const [a = 0, b = 0] = seen.later ?? []
    // Retry-After 1.5 s picks the 2 s tier, not the 100 ms one.
    expect(b - a).toBeGreaterThanOrEqual(1900)
    expect(await registry.getSingleMetricAsString('consumer_messages_total')).toMatch(/outcome="dead"} 2/)
    await consumer.stop()
  })
})
