import { DEFAULT_RETRY, defineConsumer, defineEnvelope, defineMessage } from '@platform/messaging'
import Type, { type Static } from 'typebox'
import { exchanges } from './exchanges.js'

/**
 * Webhooks end to end (docs/webhooks.md): ingest accepts a webhook, stores it and publishes `webhookReceived`;
 * the processor applies it and reports each status change back with `webhookStatusChanged`. The two services share
 * no table: these messages are their whole contract.
 */

/** How the body of a source is shaped, which decides what the processor does with it. */
export const WebhookFormat = Type.Union([Type.Literal('stripe'), Type.Literal('envelope'), Type.Literal('github')])
export type WebhookFormat = Static<typeof WebhookFormat>

/**
 * The longest provider event id (the dedupe key) ingest accepts, in characters (code points). Stated once: the
 * webhook body's schema, the X-GitHub-Delivery check and the status route's `:eventId` all read it, so an id that is
 * accepted always has a status URL that works (docs/webhooks.md).
 */
export const MAX_EVENT_ID_LENGTH = 255

/** A provider event id: 1 to MAX_EVENT_ID_LENGTH characters, no control characters (PostgreSQL text refuses NUL). */
export const WebhookEventId = Type.String({
  minLength: 1,
  maxLength: MAX_EVENT_ID_LENGTH,
  pattern: '^[^\\u0000-\\u001f\\u007f]+$',
})

export const WebhookReceivedV1 = Type.Object({
  /** Ingest's id of the event (UUID); also the AMQP message id, so consumers deduplicate by it. */
  id: Type.String({ format: 'uuid' }),
  source: Type.String({ minLength: 1 }),
  /** The provider's id of the event: the dedupe key (Stripe `id`, `idempotency_key`, X-GitHub-Delivery). */
  eventId: Type.String({ minLength: 1 }),
  eventType: Type.String({ minLength: 1 }),
  format: WebhookFormat,
  /** ISO 8601; with `id` it locates the event's row (the events table is partitioned by it). */
  receivedAt: Type.String(),
  payload: Type.Unknown(),
})
export type WebhookReceivedV1 = Static<typeof WebhookReceivedV1>

/** Topic keys must not contain the separator of their own segments, so dots in event types stay dots. */
export const webhookReceived = defineMessage({
  type: 'webhook.received.v1',
  exchange: exchanges.webhooks,
  routingKey: (body: WebhookReceivedV1) => `webhook.${body.source}.${body.eventType}`,
  schema: WebhookReceivedV1,
})

/**
 * What ingest publishes: the events of one group commit and one source, as one message, an envelope (one outbox row,
 * one publish, one delivery; docs/adr/0008-ingest-group-commit.md). The processor handles, retries and dead-letters
 * each event on its own, as a `webhookReceived` message with the event's id (the envelope is transport only). The
 * AMQP type keeps its first name, `webhook.received.batch.v1`: messages of it wait in queues and DLQs. Routed by
 * source alone, `webhook.<source>`, since one envelope holds many event types: a consumer binds `webhook.<source>` or
 * `webhook.#` and picks event types after the split, never with a binding such as `webhook.payment.refund.#`.
 */
export const webhookReceivedEnvelope = defineEnvelope({
  type: 'webhook.received.batch.v1',
  of: webhookReceived,
  routingKey: (envelope) => `webhook.${envelope.messages[0]?.body.source}`,
})

export const WebhookStatus = Type.Union([
  Type.Literal('queued'),
  Type.Literal('processing'),
  Type.Literal('completed'),
  Type.Literal('failed'),
  Type.Literal('dead'),
])
export type WebhookStatus = Static<typeof WebhookStatus>

export const WebhookStatusV1 = Type.Object({
  id: Type.String({ format: 'uuid' }),
  source: Type.String({ minLength: 1 }),
  eventId: Type.String({ minLength: 1 }),
  receivedAt: Type.String(),
  status: Type.Union([
    Type.Literal('processing'),
    Type.Literal('completed'),
    Type.Literal('failed'),
    Type.Literal('dead'),
  ]),
  /** The processor's attempt this status belongs to (1-based; a replay from the DLQ starts again at 1). */
  attempts: Type.Integer({ minimum: 0 }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  /**
   * Monotonic per event: ingest applies a status only when its version is higher than the stored one, so a late
   * `processing` never overwrites `completed` (messages of one event may arrive in any order).
   */
  version: Type.Integer({ minimum: 1 }),
  occurredAt: Type.String(),
})
export type WebhookStatusV1 = Static<typeof WebhookStatusV1>

export const webhookStatusChanged = defineMessage({
  type: 'webhook.status.v1',
  exchange: exchanges.webhookStatus,
  routingKey: (body: WebhookStatusV1) => `webhook.status.${body.source}.${body.status}`,
  schema: WebhookStatusV1,
})

/** The processor's own follow-up job: tell the downstream service an order was paid (retried on its own). */
export const OrderPaidNotifyV1 = Type.Object({
  orderId: Type.String({ minLength: 1 }),
  chargeId: Type.String({ minLength: 1 }),
  amount: Type.Integer({ minimum: 0 }),
  currency: Type.String({ minLength: 1 }),
  paidAt: Type.String(),
})
export type OrderPaidNotifyV1 = Static<typeof OrderPaidNotifyV1>

export const orderPaidNotify = defineMessage({
  type: 'order.paid.notify.v1',
  exchange: exchanges.webhooks,
  routingKey: 'processor.notify.order-paid',
  schema: OrderPaidNotifyV1,
})

/** processor: every accepted webhook event. */
export const processorWebhooksConsumer = defineConsumer({
  queue: 'processor.webhooks',
  message: webhookReceived,
  // Ingest publishes the events of a group commit as one envelope; each is handled, retried and dead-lettered alone.
  envelope: webhookReceivedEnvelope,
  bindings: [{ exchange: exchanges.webhooks, routingKey: 'webhook.#' }],
  retry: DEFAULT_RETRY,
  prefetch: 20,
})

/** processor: downstream notifications; 8 attempts through the retry tiers, then the DLQ. */
export const processorNotifyConsumer = defineConsumer({
  queue: 'processor.downstream-notify',
  message: orderPaidNotify,
  bindings: [{ exchange: exchanges.webhooks, routingKey: 'processor.notify.#' }],
  retry: DEFAULT_RETRY,
  prefetch: 20,
})

/** ingest: status changes reported by the processor. */
export const ingestStatusConsumer = defineConsumer({
  queue: 'ingest.webhook-status',
  message: webhookStatusChanged,
  bindings: [{ exchange: exchanges.webhookStatus, routingKey: 'webhook.status.#' }],
  retry: { delaysMs: [1_000, 5_000, 30_000], maxAttempts: 10 },
  prefetch: 200,
})
