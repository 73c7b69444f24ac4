import { Type } from '@platform/config'
import { WebhookEventId, WebhookStatus } from '@platform/contracts'
import { type CoalescingCounter, type ServiceApp, toProblemError } from '@platform/http'
import { currentCorrelationId } from '@platform/logging'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AcceptItem, AcceptResult } from './accept-batch.js'
import { acceptWebhook } from './accept-webhook.js'
import type { EventsRepository } from './events-repository.js'
import type { GroupCommitter } from './group-commit.js'
import { type IngestMetrics, rejectionReason } from './metrics.js'
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
const sourceParams = Type.Object({ source: Type.String() })

/** The status route's `:eventId` is held to the body's rule, so every accepted id has a status URL that works. */
const statusParams = Type.Object({ source: Type.String(), eventId: WebhookEventId })

const listQuery = Type.Object({
  status: Type.Optional(WebhookStatus),
  /** Opaque; a cursor no page handed out is a 400 invalid-cursor (webhook-status.ts). */
  cursor: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
})

/** The answer to an accepted or replayed webhook, serialised by a compiled serializer (fast-json-stringify). */
const acceptedSchema = Type.Object({
  id: Type.String(),
  source: Type.String(),
  event_id: Type.String(),
  status: Type.String(),
  status_url: Type.String(),
})

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

  await app.register(async (scope: ServiceApp) => {
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
        schema: { params: sourceParams, response: { 200: acceptedSchema } },
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

    scope.get('/v1/webhooks/:source/:eventId', { schema: { params: statusParams } }, async (request) =>
      readWebhookStatus(
        repository,
        { source: sourceOf(request), authorization: request.headers.authorization },
        request.params.eventId,
      ),
    )

    scope.get('/v1/webhooks/:source', { schema: { params: sourceParams, querystring: listQuery } }, async (request) =>
      listWebhooks(
        repository,
        { source: sourceOf(request), authorization: request.headers.authorization },
        request.query,
      ),
    )
  })
}
