import { randomUUID } from 'node:crypto'
import { processorNotifyConsumer } from '@platform/contracts'
import { dlqName } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { retryAfterMs } from '../src/downstream.js'
import { chargeEvent, type ProcessorHarness, startProcessor } from './harness.js'

/**
 * The downstream notification after `order.paid`, against a real local HTTP server that answers what each test
 * scripts per order: 429 (with Retry-After) and 503 a few times then 200, a 400, or 503 for ever. The order's effect
 * is committed once, whatever happens to the call.
 */
type Answer = { status: number; headers?: Record<string, string> }
const scripts = new Map<string, Answer[]>()
const calls: { orderId: string; at: number; idempotencyKey: string }[] = []
let downstream: FastifyInstance
let p: ProcessorHarness

beforeAll(async () => {
  downstream = Fastify()
  downstream.post('/orders/paid', async (request, reply) => {
    const body = request.body as { orderId: string }
    calls.push({ orderId: body.orderId, at: Date.now(), idempotencyKey: String(request.headers['idempotency-key']) })
    const answer = scripts.get(body.orderId)?.shift() ?? { status: 200 }
    return reply
      .code(answer.status)
      .headers(answer.headers ?? {})
      .send({})
  })
  const url = await downstream.listen({ port: 0, host: '127.0.0.1' })
  p = await startProcessor({ DOWNSTREAM_URL: `${url}/orders/paid`, NOTIFY_MAX_ATTEMPTS: '4' })
})
afterAll(async () => {
  await p?.close()
  await downstream?.close()
})

const callsFor = (orderId: string) => calls.filter((c) => c.orderId === orderId)
const dlq = dlqName(processorNotifyConsumer.queue)

describe('downstream notification', () => {
  it('retries 429 and 503 through the tiers, honouring Retry-After, until a 200; the effect happens once', async () => {
    const orderId = `ord_${randomUUID().slice(0, 8)}`
    scripts.set(orderId, [{ status: 429, headers: { 'retry-after': '1' } }, { status: 503 }, { status: 503 }])
    await p.send(chargeEvent(orderId))
    await waitFor(() => callsFor(orderId).length === 4, { timeoutMs: 20_000, message: 'four calls' })
    const [first, second] = callsFor(orderId)
    // Retry-After: 1 s picks the first tier that long (1000 ms), not the 50 ms the first failure would get.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950)
    expect(new Set(callsFor(orderId).map((c) => c.idempotencyKey)).size).toBe(1)
    const { sql } = p.env.schema
    await waitFor(async () => (await sql`select 1 from downstream_notifications where order_id = ${orderId}`).length)
    const [state] = await sql`select
      (select count(*)::int from payments where order_id = ${orderId}) as payments,
      (select status from orders where order_id = ${orderId}) as status`
    expect(state).toEqual({ payments: 1, status: 'paid' })
  })

  it('dead-letters at once on another 4xx, saying why', async () => {
    const orderId = `ord_${randomUUID().slice(0, 8)}`
    scripts.set(orderId, [{ status: 400 }])
    await p.send(chargeEvent(orderId))
    const [dead] = await waitFor(async () => {
      const messages = await rabbitAdmin().getMessages(p.env.vhost.vhost, dlq, 50)
      const mine = messages.filter((m) => JSON.parse(m.payload).orderId === orderId)
      return mine.length ? mine : undefined
    })
    expect(dead?.properties.headers?.['x-error']).toMatch(
      /PermanentError: downstream rejected the notification with 400/,
    )
    expect(dead?.properties.headers?.['x-attempts']).toBe(1)
    expect(callsFor(orderId)).toHaveLength(1)
  })

  it('gives up after NOTIFY_MAX_ATTEMPTS and dead-letters', async () => {
    const orderId = `ord_${randomUUID().slice(0, 8)}`
    scripts.set(
      orderId,
      Array.from({ length: 10 }, () => ({ status: 503 })),
    )
    await p.send(chargeEvent(orderId))
    const [dead] = await waitFor(
      async () => {
        const messages = await rabbitAdmin().getMessages(p.env.vhost.vhost, dlq, 50)
        const mine = messages.filter((m) => JSON.parse(m.payload).orderId === orderId)
        return mine.length ? mine : undefined
      },
      { timeoutMs: 20_000 },
    )
    expect(dead?.properties.headers?.['x-attempts']).toBe(4)
    expect(callsFor(orderId)).toHaveLength(4)
    const metrics = (await p.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(metrics).toMatch(
      /consumer_messages_total\{[^}]*queue="processor\.downstream-notify"[^}]*outcome="dead"[^}]*\} [1-9]/,
    )
  })

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000)
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000)
    expect(retryAfterMs('soon')).toBeUndefined()
    expect(retryAfterMs(null)).toBeUndefined()
  })
})
