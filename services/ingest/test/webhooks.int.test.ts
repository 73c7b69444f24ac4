import { EVENT_COUNT_HEADER, eventLogRows } from '@platform/contracts'
import { expectProblem } from '@platform/http/testing'
import type { MessageEnvelope } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IngestHarness, paymentEvent, SECRETS, signedPost, startIngest } from './harness.js'

/**
 * POST /v1/webhooks/:source against real PostgreSQL, RabbitMQ and Redis: accepted events are stored with their
 * outbox rows before the 200, duplicates resolve to the first event, every rejection has its status code, stores
 * nothing and is counted by reason.
 */
let h: IngestHarness

beforeAll(async () => {
  // ENVIRONMENT: event-log records carry the configured environment.
  h = await startIngest({ ENVIRONMENT: 'staging' })
  // A queue of the test's own on the webhooks exchange, to see what ingest publishes.
  const admin = rabbitAdmin()
  const vhost = encodeURIComponent(h.env.vhost.vhost)
  await admin.call('PUT', `/exchanges/${vhost}/webhooks`, { type: 'topic', durable: true })
  await admin.call('PUT', `/queues/${vhost}/tap`, { durable: false })
  await admin.call('POST', `/bindings/${vhost}/e/webhooks/q/tap`, { routing_key: 'webhook.payment.#' })
  // And one on the event log, for ingest's webhook.accepted records.
  await admin.call('PUT', `/exchanges/${vhost}/eventlog`, { type: 'topic', durable: true })
  await admin.call('PUT', `/queues/${vhost}/tap-eventlog`, { durable: false })
  await admin.call('POST', `/bindings/${vhost}/e/eventlog/q/tap-eventlog`, { routing_key: 'eventlog.ingest.#' })
})
afterAll(async () => {
  await h?.close()
})

const count = async (table: string) => {
  const [row] = await h.env.schema.sql<{ n: number }[]>`select count(*)::int as n from ${h.env.schema.sql(table)}`
  return row?.n ?? 0
}
const metric = async (line: RegExp) => {
  const body = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
  // Summed over the series that match (e.g. every source).
  return body
    .split('\n')
    .filter((l) => line.test(l))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
}

describe('accepting webhooks', () => {
  it('answers 200 with the event only after the event and its messages are committed', async () => {
    const event = paymentEvent('charge.succeeded')
    const res = await h.app.inject(signedPost('payment', event))
    expect(res.statusCode).toBe(200)
    expect(res.headers['idempotent-replayed']).toBeUndefined()
    const body = res.json()
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      source: 'payment',
      event_id: event.id,
      status: 'queued',
      status_url: `/v1/webhooks/payment/${event.id}`,
    })
    const { sql } = h.env.schema
    const [row] = await sql`select source, event_id, event_type, status, payload from events where id = ${body.id}`
    expect(row).toMatchObject({
      source: 'payment',
      event_id: event.id,
      event_type: 'charge.succeeded',
      status: 'queued',
    })
    expect(row?.payload).toEqual(event)
    // The webhook message reaches the broker (through the outbox) in a batch of its source, with the event id as
    // the id the processor deduplicates by.
    const batch = await waitFor(async () => {
      const got = await rabbitAdmin().getMessages(h.env.vhost.vhost, 'tap', 10)
      return got.find((m) => m.payload.includes(body.id))
    })
    expect(batch.routing_key).toBe('webhook.payment')
    expect(batch.properties.type).toBe('webhook.received.batch.v1')
    const item = (JSON.parse(batch.payload) as MessageEnvelope).messages.find((m) => m.id === body.id)
    expect(item?.body).toMatchObject({ id: body.id, eventId: event.id, format: 'stripe' })
  })

  it('accepts the Standard Webhooks envelope and GitHub deliveries', async () => {
    const orders = await h.app.inject(
      signedPost('orders', { idempotency_key: 'ord-1', event_type: 'order.created', payload: { n: 1 } }),
    )
    expect(orders.statusCode).toBe(200)
    expect(orders.json()).toMatchObject({ source: 'orders', event_id: 'ord-1', status: 'queued' })
    const gh = await h.app.inject(signedPost('gh', { action: 'opened' }))
    expect(gh.statusCode).toBe(200)
    const [row] = await h.env.schema.sql`select event_type, payload from events where id = ${gh.json().id}`
    expect(row).toEqual({ event_type: 'push', payload: { action: 'opened' } })
  })

  it('answers a serial duplicate with the same body and Idempotent-Replayed, storing nothing new', async () => {
    const event = paymentEvent('refund.created')
    const counted = {
      accepted: await metric(/^webhook_received_total\{.*source="payment".*result="accepted"/),
      duplicate: await metric(/^webhook_received_total\{.*source="payment".*result="duplicate"/),
    }
    const first = await h.app.inject(signedPost('payment', event))
    const again = await h.app.inject(signedPost('payment', event, { secret: SECRETS.payment[1] }))
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    const rows = await h.env.schema.sql`select id from events where event_id = ${event.id}`
    expect(rows).toHaveLength(1)
    expect(await metric(/^webhook_received_total\{.*source="payment".*result="accepted"/)).toBe(counted.accepted + 1)
    expect(await metric(/^webhook_received_total\{.*source="payment".*result="duplicate"/)).toBe(counted.duplicate + 1)
  })

  it('turns 100 concurrent copies into one event, every answer 200 with the same body', async () => {
    const event = paymentEvent('charge.succeeded')
    const request = signedPost('payment', event)
    const before = await count('outbox')
    const answers = await Promise.all(Array.from({ length: 100 }, () => h.app.inject(request)))
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200))
    const bodies = new Set(answers.map((a) => JSON.stringify(a.json())))
    expect(bodies.size).toBe(1)
    expect(answers.filter((a) => a.headers['idempotent-replayed'] !== 'true')).toHaveLength(1)
    const rows = await h.env.schema.sql`select id from events where event_id = ${event.id}`
    expect(rows).toHaveLength(1)
    // One webhook message (and its event-log record) at most, whether or not the relay has published them yet.
    const [webhookMessages] = await h.env.schema.sql<{ n: number }[]>`
      select count(*)::int as n from outbox where message_id = ${rows[0]?.id}`
    expect(webhookMessages?.n).toBeLessThanOrEqual(1)
    expect((await count('outbox')) - before).toBeLessThanOrEqual(2)
  })
})

describe('the event log', () => {
  it('records webhook.accepted once per new event, none for a duplicate, in envelopes of many records', async () => {
    const events = Array.from({ length: 30 }, () => paymentEvent('charge.succeeded'))
    // Concurrent requests share group commits; the copy of the first event is a duplicate.
    const answers = await Promise.all([...events, events[0]].map((e) => h.app.inject(signedPost('payment', e))))
    expect(answers.map((a) => a.statusCode)).toEqual(answers.map(() => 200))
    const ids = new Set(answers.map((a) => a.json().id as string))
    expect(ids.size).toBe(30)

    // Rows messages (eventLogRows), as recordMany writes them: ClickHouse-ready rows, the count in a header.
    type Row = { event_type: string; service: string; environment: string; event_context: string }
    const records = new Map<string, Row>()
    let envelopes = 0
    await waitFor(async () => {
      for (const m of await rabbitAdmin().getMessages(h.env.vhost.vhost, 'tap-eventlog', 100, false)) {
        expect(m.routing_key).toBe('eventlog.ingest.rows')
        expect(m.properties.type).toBe(eventLogRows.type)
        const { rows } = JSON.parse(m.payload) as { rows: Row[] }
        expect(m.properties.headers?.[EVENT_COUNT_HEADER]).toBe(rows.length)
        envelopes++
        for (const record of rows) {
          const context = JSON.parse(record.event_context) as { id: string }
          expect(records.has(context.id)).toBe(false)
          records.set(context.id, record)
        }
      }
      return [...ids].every((id) => records.has(id))
    })
    expect(envelopes).toBeLessThan(30)
    const first = records.get(answers[0]?.json().id)
    expect(first).toMatchObject({ event_type: 'webhook.accepted', service: 'ingest', environment: 'staging' })
    expect(JSON.parse(first?.event_context ?? '{}')).toEqual({
      id: answers[0]?.json().id,
      source: 'payment',
      eventId: events[0]?.id,
      eventType: 'charge.succeeded',
    })
  })
})

describe('rejections', () => {
  const storedNothing = async (run: () => Promise<void>) => {
    const events = await count('events')
    const keys = await count('dedupe_keys')
    await run()
    expect(await count('events')).toBe(events)
    expect(await count('dedupe_keys')).toBe(keys)
  }

  it('401 for a bad, stale, future or missing signature, counted by reason', async () => {
    const event = paymentEvent('charge.succeeded')
    await storedNothing(async () => {
      const wrong = await h.app.inject(signedPost('payment', event, { secret: 'whsec_wrong_secret_0000' }))
      expectProblem(wrong, 401, { detail: 'The signature does not match the body.' })
      const stale = await h.app.inject(signedPost('payment', event, { timestamp: Math.floor(Date.now() / 1000) - 400 }))
      expectProblem(stale, 401, { detail: 'The signed timestamp is too old.' })
      const future = await h.app.inject(
        signedPost('payment', event, { timestamp: Math.floor(Date.now() / 1000) + 400 }),
      )
      expectProblem(future, 401, { detail: 'The signed timestamp lies in the future.' })
      const request = signedPost('payment', event)
      const missing = await h.app.inject({ ...request, headers: { 'content-type': 'application/json' } })
      expectProblem(missing, 401)
      const tampered = await h.app.inject({ ...request, payload: request.payload.replace('1000', '9000') })
      expectProblem(tampered, 401)
    })
    expect(await metric(/^webhook_rejected_total\{.*source="payment".*reason="bad_signature"/)).toBeGreaterThanOrEqual(
      2,
    )
    // Rejections count by problem type (one reason per type); the signature metric tells stale from future.
    expect(await metric(/^webhook_rejected_total\{.*reason="timestamp_outside_tolerance"/)).toBeGreaterThanOrEqual(2)
    expect(await metric(/^webhook_signature_failures_total\{.*reason="stale_timestamp"/)).toBeGreaterThanOrEqual(1)
    expect(await metric(/^webhook_signature_failures_total\{.*reason="future_timestamp"/)).toBeGreaterThanOrEqual(1)
    expect(await metric(/^webhook_rejected_total\{.*reason="missing_signature"/)).toBeGreaterThanOrEqual(1)
    expect(await metric(/^webhook_signature_failures_total\{.*reason="mismatch"/)).toBeGreaterThanOrEqual(2)
  })

  it('404 for an unknown source', async () => {
    const res = await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded')))
    const unknown = await h.app.inject({ ...signedPost('payment', {}), url: '/v1/webhooks/nope' })
    expect(res.statusCode).toBe(200)
    expectProblem(unknown, 404)
    expect(await metric(/^webhook_rejected_total\{.*source="unknown".*reason="unknown_source"/)).toBe(1)
  })

  it('400 for malformed JSON and for a body that breaks the schema', async () => {
    await storedNothing(async () => {
      expectProblem(await h.app.inject(signedPost('payment', '{"id": "evt_1",')), 400, {
        detail: 'The request body is not valid JSON.',
      })
      const noOrder = paymentEvent('charge.succeeded') as { data: { object: Record<string, unknown> } }
      noOrder.data.object.metadata = {}
      expectProblem(await h.app.inject(signedPost('payment', noOrder)), 400)
      expectProblem(await h.app.inject(signedPost('orders', { event_type: 'x', payload: {} })), 400)
    })
    expect(await metric(/^webhook_rejected_total\{.*reason="malformed_json"/)).toBe(1)
    expect(await metric(/^webhook_rejected_total\{.*reason="invalid_body"/)).toBe(2)
  })

  it('415 for a body that is not JSON', async () => {
    await storedNothing(async () => {
      const request = signedPost('payment', 'id=evt_1')
      const res = await h.app.inject({ ...request, headers: { ...request.headers, 'content-type': 'text/plain' } })
      expectProblem(res, 415)
    })
    expect(await metric(/^webhook_rejected_total\{.*reason="unsupported_media_type"/)).toBe(1)
  })

  it('413 for a body over the limit', async () => {
    await storedNothing(async () => {
      const big = paymentEvent('charge.succeeded') as Record<string, unknown>
      big.padding = 'x'.repeat(1_100_000)
      expectProblem(await h.app.inject(signedPost('payment', big)), 413)
    })
    expect(await metric(/^webhook_rejected_total\{.*reason="body_too_large"/)).toBe(1)
  })

  it("429 with Retry-After over the source's rate limit", async () => {
    const answers = []
    for (let i = 0; i < 4; i++) {
      answers.push(await h.app.inject(signedPost('limited', paymentEvent('charge.succeeded'))))
    }
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 429])
    expectProblem(answers[3] as never, 429)
    expect(Number(answers[3]?.headers['retry-after'])).toBeGreaterThan(0)
    // Another source keeps its own budget.
    expect((await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded')))).statusCode).toBe(200)
    expect(await metric(/^webhook_rejected_total\{.*source="limited".*reason="rate_limited"/)).toBe(1)
  })
})
