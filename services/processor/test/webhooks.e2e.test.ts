import { createHmac, randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ingestStatusConsumer, processorWebhooksConsumer } from '@platform/contracts'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { dlqName } from '@platform/messaging'
import { type RunningProcess, rabbitAdmin, startTsProcess, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { consumersBound } from './harness.js'

/**
 * Webhooks end to end, both services as the real processes an operator starts, talking only through RabbitMQ:
 * the status API through every state, dead-lettering and the runbook's replay (docs/runbooks/dlq-replay.md) through
 * the management API, and a SIGKILL of the processor in the middle of a run.
 */
const serverFile = (service: string) => fileURLToPath(new URL(`../../${service}/src/server.ts`, import.meta.url))
const PAYMENT_SECRET = 'whsec_e2e_payment_0123456789'
const ORDERS_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
const TOKEN = 'e2e-read-token-0123456789'

let ingestEnv: ServiceTestEnv
let processorEnv: ServiceTestEnv
let ingest: RunningProcess
let processor: RunningProcess
let url: string
const vhost = () => ingestEnv.vhost.vhost

function startProcessor(): RunningProcess {
  return startTsProcess(serverFile('processor'), processorEnv.env)
}

beforeAll(async () => {
  const sources = join(tmpdir(), `e2e-sources-${randomUUID()}.json`)
  writeFileSync(
    sources,
    JSON.stringify({
      sources: [
        { name: 'payment', scheme: 'stripe', secrets: [PAYMENT_SECRET], readToken: TOKEN },
        { name: 'orders', scheme: 'standard', secrets: [ORDERS_SECRET], readToken: TOKEN },
      ],
    }),
  )
  ingestEnv = await createServiceTestEnv('ingest', { PORT: '0', LOG_LEVEL: 'info', WEBHOOK_SOURCES_FILE: sources })
  processorEnv = await createServiceTestEnv('processor', {
    PORT: '0',
    LOG_LEVEL: 'warn',
    AMQP_URL: ingestEnv.vhost.amqpUrl,
    PROCESSING_DELAY_MS: '1500',
    WEBHOOK_RETRY_DELAYS_MS: '1500',
    WEBHOOK_MAX_ATTEMPTS: '3',
  })
  // A queue of the test's own on the event log: every order.paid record the processor publishes.
  const admin = rabbitAdmin()
  const v = encodeURIComponent(vhost())
  await admin.call('PUT', `/exchanges/${v}/eventlog`, { type: 'topic', durable: true })
  await admin.call('PUT', `/queues/${v}/tap-paid`, { durable: true })
  await admin.call('POST', `/bindings/${v}/e/eventlog/q/tap-paid`, { routing_key: 'eventlog.processor.order.paid' })

  ingest = startTsProcess(serverFile('ingest'), ingestEnv.env)
  processor = startProcessor()
  await ingest.waitForOutput(/ingest listening on http:\/\//, 30_000)
  url = /ingest listening on (http:\/\/[\d.:]+)/.exec(ingest.output())?.[1] as string
  await consumersBound(vhost())
  // And ingest's status queue: a status published before it is bound would be dropped (first start only).
  await waitFor(async () => {
    const path = `/queues/${encodeURIComponent(vhost())}/${encodeURIComponent(ingestStatusConsumer.queue)}/bindings`
    return (await rabbitAdmin().call<{ source: string }[]>('GET', path)).some((b) => b.source === 'webhook-status')
  })
})

afterAll(async () => {
  await Promise.all([ingest?.kill('SIGKILL'), processor?.kill('SIGKILL')])
  await Promise.allSettled([ingestEnv?.cleanup(), processorEnv?.cleanup()])
})

async function post(source: 'payment' | 'orders', body: unknown) {
  const payload = JSON.stringify(body)
  const t = Math.floor(Date.now() / 1000)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (source === 'payment') {
    headers['stripe-signature'] =
      `t=${t},v1=${createHmac('sha256', PAYMENT_SECRET).update(`${t}.${payload}`).digest('hex')}`
  } else {
    const id = `msg_${randomUUID()}`
    const key = Buffer.from(ORDERS_SECRET.slice(6), 'base64')
    const mac = createHmac('sha256', key).update(`${id}.${t}.${payload}`).digest('base64')
    Object.assign(headers, { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${mac}` })
  }
  const res = await fetch(`${url}/v1/webhooks/${source}`, { method: 'POST', headers, body: payload })
  expect(res.status).toBe(200)
  return (await res.json()) as { id: string; event_id: string; status: string; status_url: string }
}

async function get<T = Record<string, unknown>>(path: string): Promise<T> {
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  expect(res.status).toBe(200)
  return (await res.json()) as T
}

const orderEvent = (simulate: Record<string, unknown> = {}) => ({
  idempotency_key: `ord-${randomUUID()}`,
  event_type: 'order.created',
  payload: { simulate },
})

describe('webhooks end to end', () => {
  it('reports queued, processing, failed, processing, completed through the status API', async () => {
    // One failed attempt. `processing` lasts the 1.5 s of simulated work and `failed` the 1.5 s retry delay: longer
    // than the outbox relay's polling interval (1 s), so each status is published, and seen, on its own.
    const accepted = await post('orders', orderEvent({ failAttempts: 1 }))
    const seen = [accepted.status]
    const final = await waitFor(
      async () => {
        const status = await get<{ status: string; attempts: number; last_error: string | null }>(accepted.status_url)
        if (seen.at(-1) !== status.status) seen.push(status.status)
        return status.status === 'completed' ? status : undefined
      },
      { intervalMs: 20, timeoutMs: 20_000 },
    )
    expect(seen[0]).toBe('queued')
    expect(seen.at(-1)).toBe('completed')
    expect(seen).toEqual(['queued', 'processing', 'failed', 'processing', 'completed'])
    expect(final).toMatchObject({ attempts: 2, last_error: null })
  })

  it('dead-letters, lists dead events by cursor, and completes them once replayed from the DLQ', async () => {
    const dead = [
      await post('orders', orderEvent({ failUntilReplayed: true })),
      await post('orders', orderEvent({ failUntilReplayed: true })),
    ]
    for (const event of dead) {
      await waitFor(async () => (await get<{ status: string }>(event.status_url)).status === 'dead', {
        timeoutMs: 15_000,
      })
    }
    const status = await get<{ last_error: string; attempts: number }>(dead[0]!.status_url)
    expect(status.last_error).toMatch(/simulated permanent failure/)

    const page1 = await get<{ items: { id: string }[]; next_cursor: string }>('/v1/webhooks/orders?status=dead&limit=1')
    const page2 = await get<{ items: { id: string }[]; next_cursor: string | null }>(
      `/v1/webhooks/orders?status=dead&limit=1&cursor=${page1.next_cursor}`,
    )
    expect([...page1.items, ...page2.items].map((i) => i.id).sort()).toEqual(dead.map((d) => d.id).sort())
    expect(page2.next_cursor).toBeNull()

    // The runbook: read why in the DLQ ("Get messages"), then "Move messages" back to the work queue.
    const admin = rabbitAdmin()
    const dlq = dlqName(processorWebhooksConsumer.queue)
    const messages = await waitFor(async () => {
      const got = await admin.getMessages(vhost(), dlq, 10)
      return got.length === 2 ? got : undefined
    })
    expect(messages[0]?.properties.headers?.['x-error']).toMatch(/PermanentError: simulated permanent failure/)
    await admin.moveMessages(vhost(), dlq, processorWebhooksConsumer.queue)
    for (const event of dead) {
      await waitFor(async () => (await get<{ status: string }>(event.status_url)).status === 'completed', {
        timeoutMs: 15_000,
      })
    }
    expect((await get<{ items: unknown[] }>('/v1/webhooks/orders?status=dead')).items).toEqual([])
  })

  it('loses nothing and applies nothing twice when the processor is SIGKILLed mid-run', async () => {
    const orders = Array.from({ length: 20 }, () => `ord_${randomUUID().slice(0, 12)}`)
    const sent = await Promise.all([
      ...orders.map((orderId) =>
        post('payment', {
          id: `evt_${randomUUID()}`,
          type: 'charge.succeeded',
          created: 1_700_000_000,
          data: { object: { id: `ch_${randomUUID()}`, amount: 500, currency: 'eur', metadata: { order_id: orderId } } },
        }),
      ),
      ...Array.from({ length: 10 }, () => post('orders', orderEvent())),
    ])
    const completed = async () => {
      const lists = await Promise.all(
        ['payment', 'orders'].map((s) =>
          get<{ items: { id: string }[] }>(`/v1/webhooks/${s}?status=completed&limit=500`),
        ),
      )
      const ids = new Set(lists.flatMap((l) => l.items.map((i) => i.id)))
      return sent.filter((e) => ids.has(e.id)).length
    }
    await waitFor(async () => (await completed()) >= 3, { intervalMs: 10 })
    expect(await processor.kill('SIGKILL')).toBe('SIGKILL')
    processor = startProcessor()
    await waitFor(async () => (await completed()) === sent.length, { timeoutMs: 30_000, message: 'all completed' })

    const { sql } = processorEnv.schema
    const [counts] = await sql`select
      (select count(*)::int from payments where order_id = any(${orders})) as payments,
      (select count(*)::int from orders where order_id = any(${orders}) and status = 'paid') as paid,
      (select count(*)::int from processed_events where id = any(${sent.map((e) => e.id)}::uuid[])) as processed`
    expect(counts).toEqual({ payments: 20, paid: 20, processed: 30 })
    // One order.paid record per order: a republished row repeats its event id, a second effect would not.
    const records = await waitFor(async () => {
      const got = await rabbitAdmin().getMessages(vhost(), 'tap-paid', 500)
      const mine = got.map((m) => JSON.parse(m.payload)).filter((m) => orders.some((o) => m.context.includes(o)))
      return new Set(mine.map((m) => JSON.parse(m.context).orderId)).size === 20 ? mine : undefined
    })
    const eventIdsPerOrder = new Map<string, Set<string>>()
    for (const r of records) {
      const orderId = JSON.parse(r.context).orderId as string
      eventIdsPerOrder.set(orderId, (eventIdsPerOrder.get(orderId) ?? new Set()).add(r.eventId))
    }
    expect([...eventIdsPerOrder.values()].every((ids) => ids.size === 1)).toBe(true)
  })
})
