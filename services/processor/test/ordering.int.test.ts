import { randomUUID } from 'node:crypto'
import type { WebhookReceivedV1 } from '@platform/contracts'
import { consumerEventLog, createEventLog } from '@platform/eventlog'
import { createInbox } from '@platform/inbox'
import type { IncomingMessage } from '@platform/messaging'
import { createRegistry } from '@platform/metrics'
import { migrateService } from '@platform/service'
import { createTestSchema, type TestSchema } from '@platform/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processorMetrics } from '../src/metrics.js'
import { type OrderState, orderStatus, type PaymentEvent, readOrder } from '../src/payments.js'
import { createWebhookHandler } from '../src/webhook-handler.js'

/**
 * The ordering rule (docs/adr/0007-webhook-ordering-rule.md) as a property, against the real database: for any
 * permutation of an order's events, with any of them delivered twice (the same message again, or the same provider
 * object under another event id), applied one after another or all at once, the order ends in the same state,
 * and its effects (order.paid, refund.created, dispute.opened, the downstream job) happen exactly once.
 */
let db: TestSchema
let handle: ReturnType<typeof createWebhookHandler>

beforeAll(async () => {
  db = await createTestSchema('processor_order')
  // The same migrations, in the same order, as the service applies on start.
  await migrateService(db.sql, db.schema, new URL('../migrations/', import.meta.url))
  handle = createWebhookHandler({
    sql: db.sql,
    inbox: createInbox(db.sql, 'processor.webhooks'),
    eventLog: consumerEventLog(createEventLog({ service: 'processor', environment: 'test' }), 'processor.webhooks'),
    metrics: processorMetrics(createRegistry()),
    maxAttempts: 8,
    processingDelayMs: () => 0,
    notifyDownstream: true,
    // Status reports are not what this test is about; the e2e test follows them to ingest.
    publishStatus: async () => {},
  })
})
afterAll(async () => {
  await db?.drop()
})

type Kind = 'charge.succeeded' | 'refund.created' | 'dispute.opened'
interface Fact {
  kind: Kind
  objectId: string
  amount: number
  created: number
}

/** One provider event per fact, plus "variants": the same object under a second event id with other values. */
function eventsOf(orderId: string, facts: Fact[], variants: boolean[]): PaymentEvent[] {
  const charge = facts.find((f) => f.kind === 'charge.succeeded')?.objectId ?? 'ch_none'
  const events = facts.map((f, i) => ({
    id: `evt_${orderId}_${String(i).padStart(2, '0')}`,
    type: f.kind,
    created: f.created,
    data: {
      object: {
        id: f.objectId,
        amount: f.amount,
        currency: 'eur',
        metadata: { order_id: orderId },
        ...(f.kind === 'charge.succeeded' ? {} : { charge }),
      },
    },
  }))
  const extra = events
    .filter((_, i) => variants[i])
    .map((e) => ({
      ...e,
      id: `${e.id}_v`,
      created: e.created + 7,
      data: { object: { ...e.data.object, amount: e.data.object.amount + 1 } },
    }))
  return [...events, ...extra]
}

/** The rule, stated independently: the smallest event id per object wins; the earliest charge pays the order. */
function expected(orderId: string, events: PaymentEvent[]): Omit<OrderState, 'paid_at'> & { paidAt: number | null } {
  const facts = new Map<string, PaymentEvent>()
  for (const e of events) {
    const current = facts.get(e.data.object.id)
    if (!current || e.id < current.id) facts.set(e.data.object.id, e)
  }
  const all = [...facts.values()]
  const charges = all
    .filter((e) => e.type === 'charge.succeeded')
    .sort((a, b) => a.created - b.created || (a.data.object.id < b.data.object.id ? -1 : 1))
  const first = charges[0]
  const refunded = all.filter((e) => e.type === 'refund.created').reduce((sum, e) => sum + e.data.object.amount, 0)
  const disputed = all.some((e) => e.type === 'dispute.opened')
  const amount = first ? first.data.object.amount : null
  const status = orderStatus(amount, refunded, disputed)
  return {
    order_id: orderId,
    status,
    charge_id: first?.data.object.id ?? null,
    amount,
    currency: first ? 'eur' : null,
    paidAt: first ? first.created * 1000 : null,
    refunded_amount: refunded,
    disputed,
  }
}

function message(event: PaymentEvent, messageId: string): IncomingMessage<WebhookReceivedV1> {
  return {
    body: {
      id: messageId,
      source: 'payment',
      eventId: event.id,
      eventType: event.type,
      format: 'stripe',
      receivedAt: new Date().toISOString(),
      payload: event,
    },
    messageId,
    type: 'webhook.received.v1',
    correlationId: randomUUID(),
    exchange: 'webhooks',
    routingKey: `webhook.payment.${event.type}`,
    attempt: 1,
    redelivered: false,
    headers: {},
  }
}

async function effects(orderId: string) {
  const rows = await db.sql<{ event_type: string; n: number }[]>`
    select body->>'eventType' as event_type, count(*)::int as n from outbox
    where type = 'eventlog.recorded.v1' and (body->>'context')::jsonb->>'orderId' = ${orderId}
    group by 1`
  const [notify] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from outbox where type = 'order.paid.notify.v1' and body->>'orderId' = ${orderId}`
  return { ...Object.fromEntries(rows.map((r) => [r.event_type, r.n])), notify: notify?.n ?? 0 }
}

const factArb = (kind: Kind, prefix: string) =>
  fc.record({
    kind: fc.constant(kind),
    objectId: fc.uuid().map((u) => `${prefix}${u.slice(0, 12)}`),
    amount: fc.integer({ min: 1, max: 5000 }),
    created: fc.integer({ min: 1_700_000_000, max: 1_700_000_100 }),
  })

const scenario = fc
  .tuple(
    fc.array(factArb('charge.succeeded', 'ch_'), { minLength: 0, maxLength: 2 }),
    fc.array(factArb('refund.created', 're_'), { maxLength: 3 }),
    fc.array(factArb('dispute.opened', 'dp_'), { maxLength: 2 }),
  )
  .map(([c, r, d]) => [...c, ...r, ...d])
  .filter((facts) => facts.length > 0)
  .chain((facts) =>
    fc.record({
      facts: fc.constant(facts),
      variants: fc.array(
        fc.nat(3).map((n) => n === 0),
        { minLength: facts.length, maxLength: facts.length },
      ),
      // Indexes of deliveries to send twice with the same message id (a redelivery).
      redeliver: fc.array(fc.nat(), { maxLength: 3 }),
      seed: fc.integer(),
      concurrent: fc.boolean(),
    }),
  )

describe('out-of-order and duplicated payment events', () => {
  it('end in the same order state with every effect exactly once, for any permutation and duplication', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ facts: generated, variants, redeliver, seed, concurrent }) => {
        const orderId = `ord_${randomUUID().slice(0, 12)}`
        // Provider object ids are globally unique; generated ones repeat across runs (shrinking makes "dp_00000000"),
        // so each run scopes them to its own order.
        const facts = generated.map((f) => ({ ...f, objectId: `${f.objectId}_${orderId}` }))
        const events = eventsOf(orderId, facts, variants)
        const deliveries = events.map((e) => message(e, randomUUID()))
        for (const i of redeliver) deliveries.push(deliveries[i % deliveries.length] as (typeof deliveries)[number])
        const order = fc.sample(fc.shuffledSubarray(deliveries, { minLength: deliveries.length }), {
          seed,
          numRuns: 1,
        })[0]!

        if (concurrent) await Promise.all(order.map((m) => handle(m)))
        else for (const m of order) await handle(m)

        const state = await readOrder(db.sql, orderId)
        const want = expected(orderId, events)
        const { paidAt, ...rest } = want
        expect(state).toMatchObject(rest)
        expect(state?.paid_at?.getTime() ?? null).toBe(paidAt)

        const distinct = (kind: Kind) => new Set(facts.filter((f) => f.kind === kind).map((f) => f.objectId)).size
        const counted = await effects(orderId)
        const paidOnce = want.charge_id ? 1 : 0
        expect(counted).toEqual({
          ...(paidOnce ? { 'order.paid': 1 } : {}),
          ...(distinct('refund.created') ? { 'refund.created': distinct('refund.created') } : {}),
          ...(distinct('dispute.opened') ? { 'dispute.opened': distinct('dispute.opened') } : {}),
          notify: paidOnce,
        })
        const [rows] = await db.sql<{ refunds: number; disputes: number }[]>`
          select (select count(*)::int from refunds where order_id = ${orderId}) as refunds,
                 (select count(*)::int from disputes where order_id = ${orderId}) as disputes`
        expect(rows).toEqual({ refunds: distinct('refund.created'), disputes: distinct('dispute.opened') })
      }),
      { numRuns: 40 },
    )
  })
})
