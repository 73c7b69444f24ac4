import { orderPaidNotify } from '@platform/contracts'
import type { Tx } from '@platform/db'
import type { EventLog } from '@platform/eventlog'
import { enqueueMessage } from '@platform/outbox'

/**
 * Payment events (Stripe-shaped, docs/webhooks.md#payment-events) and the ordering rule of
 * docs/adr/0007-webhook-ordering-rule.md: store each fact once, keyed by its provider object id; derive the order
 * from the set of its facts. Any permutation of an order's events, with any of them repeated, leaves the same
 * facts and so the same order. Side effects (event-log records, the downstream notification) fire on transitions
 * that happen exactly once whatever the order: a fact row first inserted, an order first paid.
 */
export interface PaymentObject {
  id: string
  amount: number
  currency: string
  charge?: string
  reason?: string
  metadata: { order_id: string }
}

export interface PaymentEvent {
  id: string
  type: string
  created: number
  data: { object: PaymentObject }
}

export interface OrderState {
  order_id: string
  status: 'pending' | 'paid' | 'partially_refunded' | 'refunded' | 'disputed'
  charge_id: string | null
  amount: number | null
  currency: string | null
  paid_at: Date | null
  refunded_amount: number
  disputed: boolean
}

export interface PaymentDeps {
  eventLog: EventLog
  /** Enqueue the downstream notification when an order becomes paid (DOWNSTREAM_URL set). */
  notify: boolean
}

export type PaymentEffect = 'charge' | 'refund' | 'dispute' | 'duplicate_fact' | 'ignored'

/** A transaction-scoped lock per order: events of one order are applied one at a time, across instances. */
async function lockOrder(tx: Tx, orderId: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${`order:${orderId}`}, 0))`
}

/**
 * Inserts the fact, or keeps the copy with the smallest event id when it exists. Returns true when the row is new.
 * `xmax = 0` tells an inserted row from an updated one (https://www.postgresql.org/docs/15/ddl-system-columns.html).
 */
async function storeFact(tx: Tx, event: PaymentEvent): Promise<boolean | undefined> {
  const o = event.data.object
  const created = new Date(event.created * 1000)
  const order = o.metadata.order_id
  let rows: { inserted: boolean }[]
  switch (event.type) {
    case 'charge.succeeded':
      rows = await tx`
        insert into payments (charge_id, order_id, amount, currency, created_at, event_id)
        values (${o.id}, ${order}, ${o.amount}, ${o.currency}, ${created}, ${event.id})
        on conflict (charge_id) do update set order_id = excluded.order_id, amount = excluded.amount,
          currency = excluded.currency, created_at = excluded.created_at, event_id = excluded.event_id
        where excluded.event_id < payments.event_id collate "C"
        returning (xmax = 0) as inserted`
      break
    case 'refund.created':
      rows = await tx`
        insert into refunds (refund_id, charge_id, order_id, amount, currency, created_at, event_id)
        values (${o.id}, ${o.charge ?? ''}, ${order}, ${o.amount}, ${o.currency}, ${created}, ${event.id})
        on conflict (refund_id) do update set charge_id = excluded.charge_id, order_id = excluded.order_id,
          amount = excluded.amount, currency = excluded.currency, created_at = excluded.created_at,
          event_id = excluded.event_id
        where excluded.event_id < refunds.event_id collate "C"
        returning (xmax = 0) as inserted`
      break
    case 'dispute.opened':
      rows = await tx`
        insert into disputes (dispute_id, charge_id, order_id, amount, currency, reason, created_at, event_id)
        values (${o.id}, ${o.charge ?? ''}, ${order}, ${o.amount}, ${o.currency}, ${o.reason ?? null}, ${created},
          ${event.id})
        on conflict (dispute_id) do update set charge_id = excluded.charge_id, order_id = excluded.order_id,
          amount = excluded.amount, currency = excluded.currency, reason = excluded.reason,
          created_at = excluded.created_at, event_id = excluded.event_id
        where excluded.event_id < disputes.event_id collate "C"
        returning (xmax = 0) as inserted`
      break
    default:
      return undefined
  }
  // No row returned: the stored copy came from a smaller event id and stays.
  return rows[0]?.inserted ?? false
}

/** Status precedence: a dispute wins, then refunds (all or part of the amount), then paid; no charge yet: pending. */
export function orderStatus(amount: number | null, refunded: number, disputed: boolean): OrderState['status'] {
  if (disputed) return 'disputed'
  if (amount === null) return 'pending'
  if (refunded > 0) return refunded >= amount ? 'refunded' : 'partially_refunded'
  return 'paid'
}

/** The order as a function of its facts only: the earliest charge (by time, then id) pays it. */
async function deriveOrder(tx: Tx, orderId: string): Promise<OrderState> {
  const [payment] = await tx<{ charge_id: string; amount: string; currency: string; created_at: Date }[]>`
    select charge_id, amount, currency, created_at from payments where order_id = ${orderId}
    order by created_at, charge_id collate "C" limit 1`
  const [totals] = await tx<{ refunded: string; disputed: boolean }[]>`
    select (select coalesce(sum(amount), 0) from refunds where order_id = ${orderId}) as refunded,
           exists (select 1 from disputes where order_id = ${orderId}) as disputed`
  const refunded = Number(totals?.refunded ?? 0)
  const disputed = totals?.disputed ?? false
  const amount = payment ? Number(payment.amount) : null
  const status = orderStatus(amount, refunded, disputed)
  return {
    order_id: orderId,
    status,
    charge_id: payment?.charge_id ?? null,
    amount,
    currency: payment?.currency ?? null,
    paid_at: payment?.created_at ?? null,
    refunded_amount: refunded,
    disputed,
  }
}

/** Applies one payment event inside the caller's transaction (the inbox's, so it happens once per message). */
export async function applyPaymentEvent(tx: Tx, event: PaymentEvent, deps: PaymentDeps): Promise<PaymentEffect> {
  const orderId = event.data.object.metadata?.order_id
  if (!orderId || !['charge.succeeded', 'refund.created', 'dispute.opened'].includes(event.type)) return 'ignored'
  await lockOrder(tx, orderId)
  const [before] = await tx<{ charge_id: string | null }[]>`select charge_id from orders where order_id = ${orderId}`
  const inserted = await storeFact(tx, event)
  const after = await deriveOrder(tx, orderId)
  await tx`
    insert into orders ${tx(after as never)}
    on conflict (order_id) do update set status = excluded.status, charge_id = excluded.charge_id,
      amount = excluded.amount, currency = excluded.currency, paid_at = excluded.paid_at,
      refunded_amount = excluded.refunded_amount, disputed = excluded.disputed`

  const o = event.data.object
  if (inserted && event.type === 'refund.created') {
    await deps.eventLog.record(tx, {
      eventType: 'refund.created',
      context: { orderId, refundId: o.id, chargeId: o.charge, amount: o.amount, currency: o.currency },
    })
  }
  if (inserted && event.type === 'dispute.opened') {
    await deps.eventLog.record(tx, {
      eventType: 'dispute.opened',
      context: { orderId, disputeId: o.id, chargeId: o.charge, amount: o.amount, reason: o.reason ?? null },
    })
  }
  // Paid exactly once: the transition from "no charge" to "a charge", which happens in one transaction only.
  if (!before?.charge_id && after.charge_id && after.amount !== null && after.currency && after.paid_at) {
    const paid = {
      orderId,
      chargeId: after.charge_id,
      amount: after.amount,
      currency: after.currency,
      paidAt: after.paid_at.toISOString(),
    }
    await deps.eventLog.record(tx, { eventType: 'order.paid', context: paid })
    if (deps.notify) await enqueueMessage(tx, orderPaidNotify, paid, { orderingKey: orderId })
  }
  if (!inserted) return 'duplicate_fact'
  return event.type === 'charge.succeeded' ? 'charge' : event.type === 'refund.created' ? 'refund' : 'dispute'
}

export async function readOrder(tx: Tx | import('@platform/db').Sql, orderId: string): Promise<OrderState | undefined> {
  const [row] = await tx<OrderState[]>`select * from orders where order_id = ${orderId}`
  return (
    row && {
      ...row,
      amount: row.amount === null ? null : Number(row.amount),
      refunded_amount: Number(row.refunded_amount),
    }
  )
}
