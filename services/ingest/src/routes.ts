import { Type } from '@platform/config'
import { WebhookEventId, WebhookStatus } from '@platform/contracts'
import { type CoalescingCounter, problemResponse, type ServiceApp, toProblemError } from '@platform/http'
import { currentCorrelationId } from '@platform/logging'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AcceptItem, AcceptResult } from './accept-batch.js'
import { acceptWebhook } from './accept-webhook.js'
import type { EventsRepository } from './events-repository.js'
import type { GroupCommitter } from './group-commit.js'
import { type IngestMetrics, rejectionReason } from './metrics.js'
import { READ_TOKEN_SECURITY, WEBHOOK_SECURITY, webhookBody } from './openapi.js'
import { sourceRateLimit } from './source-rate-limit.js'
import type { SourceConfig } from './sources.js'
import { listWebhooks, readWebhookStatus } from './webhook-status.js'

export interface WebhookRoutesOptions {
  sources: Map<string, SourceConfig>
  repository: EventsRepository
  committer: GroupCommitter<AcceptItem, AcceptResult>
  metrics: IngestMetrics
  bodyLimit: number
  /** Counts each source's requests against its rate limit (in Redis, shared by the instances). */
  rateCounter: CoalescingCounter
}

/** The path segment is checked against the sources file by the domain (404 unknown-source), not by a schema. */
const sourceParams = Type.Object({
  source: Type.String({ description: 'The source’s name in the sources file, e.g. payment or orders.' }),
})

/** The status route's `:eventId` is held to the body's rule, so every accepted id has a status URL that works. */
const statusParams = Type.Object({
  source: sourceParams.properties.source,
  eventId: Type.String({
    ...WebhookEventId,
    description: 'The provider’s event id, the dedupe key (Stripe `id`, `idempotency_key`, X-GitHub-Delivery).',
  }),
})

const PAGE_SIZE = 50

const listQuery = Type.Object({
  status: Type.Optional(WebhookStatus),
  /** Opaque; a cursor no page handed out is a 400 invalid-cursor (webhook-status.ts). */
  cursor: Type.Optional(Type.String({ description: 'The previous page’s `next_cursor`; opaque.' })),
  // Optional for the client (the document says so); Fastify's validator fills the default in before the handler.
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: PAGE_SIZE })),
})

/**
 * The headers signed with the signature header (the security schemes of openapi.ts name that one). All optional
 * here, as each scheme needs its own: the domain refuses missing ones with 401 missing-signature, as before.
 */
const webhookHeaders = Type.Object({
  'webhook-id': Type.Optional(Type.String({ description: 'scheme standard: the message id, signed.' })),
  'webhook-timestamp': Type.Optional(Type.String({ description: 'scheme standard: Unix seconds, signed.' })),
  'x-github-delivery': Type.Optional(Type.String({ description: 'scheme github: the delivery id, the dedupe key.' })),
  'x-github-event': Type.Optional(Type.String({ description: 'scheme github: the event type recorded.' })),
})

/** The answer to an accepted or replayed webhook, serialised by a compiled serializer (fast-json-stringify). */
const acceptedSchema = Type.Object(
  {
    id: Type.String({ description: 'Ingest’s id of the stored event.' }),
    source: Type.String(),
    event_id: Type.String({ description: 'The dedupe key.' }),
    status: Type.String({ description: 'queued when new; a replay shows the current status (or expired).' }),
    status_url: Type.String({ description: 'Where GET reads its status (read token).' }),
  },
  {
    description: 'Stored and committed, or a duplicate of a stored event (then `Idempotent-Replayed: true`).',
    headers: { 'idempotent-replayed': { type: 'string', description: '`true` on a duplicate delivery.' } },
  },
)

const EventSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  source: Type.String(),
  event_id: Type.String(),
  event_type: Type.String(),
  status: WebhookStatus,
  attempts: Type.Integer({ minimum: 0, description: 'Processing attempts so far.' }),
  received_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  last_error: Type.Union([Type.String(), Type.Null()], { description: 'Why the last attempt failed.' }),
})

const PageSchema = Type.Object({
  items: Type.Array(EventSchema),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'null on the last page.' }),
})

const readTokenRefused = problemResponse('invalid-read-token: no bearer token, or not this source’s read token.')
const unknownSourceAnswer = problemResponse('unknown-source: the sources file has no such source.')

const REPLAYED = 'idempotent-replayed'

export const statusUrl = (source: string, eventId: string) =>
  `/v1/webhooks/${encodeURIComponent(source)}/${encodeURIComponent(eventId)}`

/**
 * POST /v1/webhooks/:source and the status API: each handler takes its checked input, makes one domain call
 * (accept-webhook.ts, webhook-status.ts) and replies. Webhook bodies are read as raw bytes (the signature covers the
 * bytes, docs/webhooks.md#signatures) by a content-type parser registered only inside this plugin; the domain parses
 * the JSON after the signature checked out. Nothing is stored for a rejected request. The POST route counts every
 * request in two hooks: onError counts a refusal by its problem type (metrics.ts holds the table), onResponse an
 * accepted or replayed webhook.
 */
export async function registerWebhookRoutes(app: ServiceApp, options: WebhookRoutesOptions): Promise<void> {
  const { sources, repository, committer, metrics } = options
  const sourceOf = (request: FastifyRequest) => sources.get((request.params as { source: string }).source)
  const sourceLabel = (request: FastifyRequest) => sourceOf(request)?.name ?? 'unknown'

  // Every error of the route passes here before the error handler answers it: the handler's and the hooks'
  // ProblemErrors, and what Fastify refuses itself (body too large, wrong media type), mapped as the answer is.
  async function countRejection(request: FastifyRequest, _reply: FastifyReply, error: Error) {
    const source = sourceLabel(request)
    metrics.received.inc({ source, result: 'rejected' })
    metrics.rejected.inc({ source, reason: rejectionReason(toProblemError(error, options.bodyLimit).type) })
  }

  async function countAccepted(request: FastifyRequest, reply: FastifyReply) {
    if (reply.statusCode >= 400) return
    const source = sourceLabel(request)
    metrics.received.inc({ source, result: reply.hasHeader(REPLAYED) ? 'duplicate' : 'accepted' })
    metrics.ackLatency.observe({ source }, reply.elapsedTime / 1000)
  }

  await app.register(async function webhookRoutes(scope: ServiceApp) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: options.bodyLimit },
      (_r, body, done) => done(null, body),
    )

    scope.post(
      '/v1/webhooks/:source',
      {
        // Each source has its own budget, shared by all its senders and all ingest instances, instead of the
        // service-wide limit per client address.
        config: { rateLimit: false },
        onRequest: sourceRateLimit(options.rateCounter, sourceOf),
        onError: countRejection,
        onResponse: countAccepted,
        schema: {
          summary: 'Receive a webhook delivery',
          description:
            'Checks the signature over the raw body (the source’s scheme), then the JSON and the source’s format, ' +
            'stores the event with its outbox rows in one commit and only then answers 200; a duplicate (same ' +
            'source and dedupe key) answers 200 again without a second effect. Nothing is stored for a refused ' +
            'request. docs/webhooks.md#api.',
          tags: ['webhooks'],
          security: WEBHOOK_SECURITY,
          params: sourceParams,
          headers: webhookHeaders,
          documentedBody: webhookBody,
          response: {
            200: acceptedSchema,
            400: problemResponse('invalid-json, invalid-webhook (the source’s format), json-too-deep, ...'),
            401: problemResponse('missing-signature, bad-signature, timestamp-outside-tolerance.'),
            404: unknownSourceAnswer,
            413: problemResponse('body-too-large: over BODY_LIMIT_BYTES.'),
            415: problemResponse('unsupported-media-type: the body must be application/json.'),
            429: problemResponse('rate-limited: over the source’s rate limit; Retry-After says when to resend.'),
            503: problemResponse('not-stored: nothing was accepted; resend after Retry-After.'),
          },
        },
      },
      async (request, reply) => {
        const result = await acceptWebhook(
          { committer, metrics },
          {
            source: sourceOf(request),
            headers: request.headers,
            body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
            correlationId: currentCorrelationId() ?? request.id,
          },
        )
        if (result.replayed) reply.header(REPLAYED, 'true')
        return {
          id: result.id,
          source: result.source,
          event_id: result.eventId,
          status: result.status,
          status_url: statusUrl(result.source, result.eventId),
        }
      },
    )

    scope.get(
      '/v1/webhooks/:source/:eventId',
      {
        schema: {
          summary: 'Read one event’s status',
          description: 'The event the provider’s id names, as ingest knows it now. docs/webhooks.md#statuses.',
          tags: ['webhook status'],
          security: READ_TOKEN_SECURITY,
          params: statusParams,
          response: {
            200: EventSchema,
            401: readTokenRefused,
            404: problemResponse('unknown-source, or unknown-event: no such event (or it is past retention).'),
          },
        },
      },
      async (request) =>
        readWebhookStatus(
          repository,
          { source: sourceOf(request), authorization: request.headers.authorization },
          request.params.eventId,
        ),
    )

    scope.get(
      '/v1/webhooks/:source',
      {
        schema: {
          summary: 'List a source’s events, newest first',
          description: 'Keyset pages on (received_at, id): pass `next_cursor` back as `cursor` for the next one.',
          tags: ['webhook status'],
          security: READ_TOKEN_SECURITY,
          params: sourceParams,
          querystring: listQuery,
          response: {
            200: PageSchema,
            400: problemResponse('invalid-cursor, or invalid-parameter (status, limit).'),
            401: readTokenRefused,
            404: unknownSourceAnswer,
          },
        },
      },
      async (request) =>
        listWebhooks(
          repository,
          { source: sourceOf(request), authorization: request.headers.authorization },
          { ...request.query, limit: request.query.limit ?? PAGE_SIZE },
        ),
    )
  })
}
