import { Type } from '@platform/config'
import { MAX_EVENT_ID_LENGTH, WebhookEventId, type WebhookFormat } from '@platform/contracts'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'

/**
 * What a webhook body must look like for its source's format, and where its dedupe key and event type are.
 * A body that breaks its schema is a 400 and is not stored.
 */
const text = (maxLength = 255) => Type.String({ minLength: 1, maxLength })
const amount = Type.Integer({ minimum: 0 })
const orderMetadata = Type.Object({ order_id: text() })

/** Objects of the three payment event types the processor acts on (docs/webhooks.md#payment-events). */
/** A payment object: its own id, amount, currency, the order it belongs to and, for refunds and disputes, the charge. */
const paymentObject = (idPattern: string, withCharge: boolean) =>
  Type.Object({
    id: Type.String({ pattern: idPattern }),
    amount,
    currency: text(3),
    metadata: orderMetadata,
    ...(withCharge ? { charge: Type.String({ pattern: '^ch_' }) } : {}),
  })
const ChargeObject = paymentObject('^ch_', false)
const RefundObject = paymentObject('^re_', true)
const DisputeObject = paymentObject('^(dp|du)_', true)

const stripeEvent = (type: TSchema, object: TSchema) =>
  Type.Object({ id: WebhookEventId, type, created: Type.Integer({ minimum: 0 }), data: Type.Object({ object }) })

const KNOWN_PAYMENT_TYPES = ['charge.succeeded', 'refund.created', 'dispute.opened'] as const

/** The three known types must carry complete objects; other Stripe types are accepted and ignored downstream. */
const StripeEvent = Type.Union([
  stripeEvent(Type.Literal('charge.succeeded'), ChargeObject),
  stripeEvent(Type.Literal('refund.created'), RefundObject),
  stripeEvent(Type.Literal('dispute.opened'), DisputeObject),
  stripeEvent(
    Type.String({ minLength: 1, not: Type.Union(KNOWN_PAYMENT_TYPES.map((t) => Type.Literal(t))) }),
    Type.Object({ id: text() }),
  ),
])

const Envelope = Type.Object({
  idempotency_key: WebhookEventId,
  event_type: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.:-]+$' }),
  payload: Type.Object({}),
})

const GithubDelivery = Type.Object({})

/** Each format's body schema, also what ingest's OpenAPI document shows (openapi.ts). */
export const WebhookBodySchemas = { stripe: StripeEvent, envelope: Envelope, github: GithubDelivery }

const checkers = {
  stripe: Compile(StripeEvent),
  envelope: Compile(Envelope),
  github: Compile(GithubDelivery),
}
/** GitHub's dedupe key is a header (X-GitHub-Delivery), checked like the body ids of the other formats. */
const eventIdChecker = Compile(WebhookEventId)

export interface ParsedWebhook {
  dedupeKey: string
  eventType: string
  /** What the processor receives: the Stripe event as sent, the envelope's `payload`, the GitHub body. */
  payload: unknown
}

export type BodyCheck = { ok: true; value: ParsedWebhook } | { ok: false; detail: string }

export function checkBody(
  format: WebhookFormat,
  body: unknown,
  headers: Record<string, string | string[] | undefined>,
): BodyCheck {
  const checker = checkers[format]
  if (!checker.Check(body)) {
    const [first] = checker.Errors(body)
    return {
      ok: false,
      detail: `The body does not match the ${format} format: ${first?.instancePath || '/'} ${first?.message}.`,
    }
  }
  switch (format) {
    case 'stripe': {
      const event = body as { id: string; type: string }
      return { ok: true, value: { dedupeKey: event.id, eventType: event.type, payload: body } }
    }
    case 'envelope': {
      const envelope = body as { idempotency_key: string; event_type: string; payload: unknown }
      return {
        ok: true,
        value: { dedupeKey: envelope.idempotency_key, eventType: envelope.event_type, payload: envelope.payload },
      }
    }
    case 'github': {
      const event = String(headers['x-github-event'] ?? 'unknown').replace(/[^A-Za-z0-9_.:-]/g, '_') || 'unknown'
      const delivery = String(headers['x-github-delivery'])
      if (!eventIdChecker.Check(delivery)) {
        return {
          ok: false,
          detail: `X-GitHub-Delivery must be 1 to ${MAX_EVENT_ID_LENGTH} characters without control characters.`,
        }
      }
      return { ok: true, value: { dedupeKey: delivery, eventType: event, payload: body } }
    }
  }
}
