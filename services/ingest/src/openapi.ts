import type { DocumentedBody, OpenApiOptions } from '@platform/http'
import { WebhookBodySchemas } from './payloads.js'

/**
 * Ingest's part of its OpenAPI document (GET /docs/json, Swagger UI at /docs; the platform builds the rest from the
 * route schemas in routes.ts). The signature schemes are security schemes on the header that carries the MAC; the
 * headers signed with it (webhook-id, webhook-timestamp, X-GitHub-Delivery) are the route's header parameters.
 * docs/webhooks.md says the same in prose.
 */
export const ingestOpenApi: OpenApiOptions = {
  description:
    'Receives webhooks from payment providers and other systems, checks their signature over the raw body, stores ' +
    'each durably before it answers (group commit), deduplicates them, and reports each event’s processing status ' +
    'to the bearer of its source’s read token. Every error is `application/problem+json` (docs/api-errors.md).',
  tags: [
    { name: 'webhooks', description: 'Deliveries from providers, one source per path segment (docs/webhooks.md).' },
    { name: 'webhook status', description: 'What became of each accepted event, per source (read token).' },
  ],
  securitySchemes: {
    stripeSignature: {
      type: 'apiKey',
      in: 'header',
      name: 'stripe-signature',
      description:
        'Sources with scheme `stripe`: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 of ' +
        '`<t>.<body>` keyed by the secret (https://docs.stripe.com/webhooks#verify-manually). `t` must lie within ' +
        'the source’s toleranceSeconds.',
    },
    standardWebhookSignature: {
      type: 'apiKey',
      in: 'header',
      name: 'webhook-signature',
      description:
        'Sources with scheme `standard` (Standard Webhooks): `webhook-signature: v1,<base64> [v1,<base64> ...]`, ' +
        'HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>` keyed by the base64 part of `whsec_<base64>`; ' +
        'webhook-id and webhook-timestamp are required with it.',
    },
    githubSignature: {
      type: 'apiKey',
      in: 'header',
      name: 'x-hub-signature-256',
      description:
        'Sources with scheme `github`: `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body; ' +
        'X-GitHub-Delivery (the dedupe key) is required with it.',
    },
    readToken: {
      type: 'http',
      scheme: 'bearer',
      description: 'The source’s `readToken` from the sources file (WEBHOOK_SOURCES_FILE): it reads that source only.',
    },
  },
}

/** One of the three, the one the source's scheme names (OpenAPI: alternatives). */
export const WEBHOOK_SECURITY: Record<string, string[]>[] = [
  { stripeSignature: [] },
  { standardWebhookSignature: [] },
  { githubSignature: [] },
]
export const READ_TOKEN_SECURITY: Record<string, string[]>[] = [{ readToken: [] }]

const created = 1_767_225_600

/** The webhook body as the document shows it: the route reads raw bytes, so Fastify must not validate a schema. */
export const webhookBody: DocumentedBody = {
  description:
    'The delivery exactly as the provider sent it: the signature covers these bytes, so send them unchanged. Its ' +
    'format follows the source’s scheme (stripe: a Stripe event; standard: an envelope; github: any JSON object).',
  schema: {
    anyOf: [
      { ...WebhookBodySchemas.stripe, title: 'Stripe event (scheme stripe, dedupe key `id`)' },
      { ...WebhookBodySchemas.envelope, title: 'Envelope (scheme standard, dedupe key `idempotency_key`)' },
      { ...WebhookBodySchemas.github, title: 'GitHub delivery (scheme github, dedupe key X-GitHub-Delivery)' },
    ],
  },
  examples: {
    stripe: {
      summary: 'A charge (source payment, scheme stripe)',
      value: {
        id: 'evt_3QdemoCharge01',
        type: 'charge.succeeded',
        created,
        data: { object: { id: 'ch_3Qdemo01', amount: 4200, currency: 'eur', metadata: { order_id: 'ord_1001' } } },
      },
    },
    standard: {
      summary: 'An order event (source orders, scheme standard)',
      value: {
        idempotency_key: 'ord_1001-created',
        event_type: 'order.created',
        payload: { order_id: 'ord_1001', items: 2 },
      },
    },
    github: {
      summary: 'A push (a source with scheme github)',
      value: { ref: 'refs/heads/main', after: '6113728f27ae', repository: { full_name: 'demo/event-platform' } },
    },
  },
}
