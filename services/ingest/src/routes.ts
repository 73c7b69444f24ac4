import { createHash, timingSafeEqual } from 'node:crypto'
import { Type } from '@platform/config'
import { WebhookEventId, WebhookStatus } from '@platform/contracts'
import {
  type CoalescingCounter,
  decodeTimeIdCursor,
  encodeTimeIdCursor,
  isProblemError,
  ProblemError,
  parseJsonText,
  problemTypes,
  type ServiceApp,
} from '@platform/http'
import { currentCorrelationId } from '@platform/logging'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Value from 'typebox/value'
import type { AcceptItem, AcceptResult } from './accept-batch.js'
import type { EventRow, EventsRepository } from './events-repository.js'
import type { GroupCommitter } from './group-commit.js'
import { type IngestMetrics, type RejectionReason, reasonOfStatus } from './metrics.js'
import { checkBody } from './payloads.js'
import { ingestProblems } from './problems.js'
import { type SignatureFailure, verifySignature } from './signatures.js'
import { sourceRateLimit } from './source-rate-limit.js'
import type { SourceConfig } from './sources.js'

export interface WebhookRoutesOptions {
  sources: Map<string, SourceConfig>
  repository: EventsRepository
  committer: GroupCommitter<AcceptItem, AcceptResult>
  metrics: IngestMetrics
  bodyLimit: number
  /** Counts each source's requests against its rate limit (in Redis, shared by the instances). */
  rateCounter: CoalescingCounter
}

const POST_PATH = '/v1/webhooks/:source'
const SIGNATURE_TYPE = {
  missing_headers: ingestProblems.missingSignature,
  malformed_header: ingestProblems.badSignature,
  mismatch: ingestProblems.badSignature,
  stale_timestamp: ingestProblems.timestampOutsideTolerance,
  future_timestamp: ingestProblems.timestampOutsideTolerance,
} satisfies Record<SignatureFailure, unknown>
const SIGNATURE_REASON: Record<SignatureFailure, RejectionReason> = {
  missing_headers: 'missing_signature',
  malformed_header: 'bad_signature',
  mismatch: 'bad_signature',
  stale_timestamp: 'stale_timestamp',
  future_timestamp: 'future_timestamp',
}
const SIGNATURE_DETAIL: Record<SignatureFailure, string> = {
  missing_headers: 'The signature headers are missing.',
  malformed_header: 'The signature header is malformed.',
  mismatch: 'The signature does not match the body.',
  stale_timestamp: 'The signed timestamp is too old.',
  future_timestamp: 'The signed timestamp lies in the future.',
}

type Params = { source: string; eventId?: string }

/** The status route's `:eventId` is held to the body's rule, so every accepted id has a status URL that works. */
const statusParams = Type.Object({ source: Type.String(), eventId: WebhookEventId })

/** The answer to an accepted or replayed webhook, serialised by a compiled serializer (fast-json-stringify). */
const acceptedSchema = {
  type: 'object',
  required: ['id', 'source', 'event_id', 'status', 'status_url'],
  properties: {
    id: { type: 'string' },
    source: { type: 'string' },
    event_id: { type: 'string' },
    status: { type: 'string' },
    status_url: { type: 'string' },
  },
} as const

export const statusUrl = (source: string, eventId: string) =>
  `/v1/webhooks/${encodeURIComponent(source)}/${encodeURIComponent(eventId)}`

/** Fixed-length digests, so the constant-time compare never sees different lengths. */
const digest = (text: string) => createHash('sha256').update(text).digest()

/** Opaque keyset cursor: the (received_at, id) of the last row of a page; decoding checks both (invalid-cursor). */
const encodeCursor = (row: EventRow) => encodeTimeIdCursor({ at: row.received_at, id: row.id })

function decodeCursor(cursor: string): { receivedAt: Date; id: string } {
  const { at, id } = decodeTimeIdCursor(cursor)
  return { receivedAt: at, id }
}

const present = (row: EventRow) => ({
  id: row.id,
  source: row.source,
  event_id: row.event_id,
  event_type: row.event_type,
  status: row.status,
  attempts: row.attempts,
  received_at: row.received_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
  last_error: row.last_error,
})

/**
 * POST /v1/webhooks/:source and the status API. Webhook bodies are read as raw bytes (the signature covers the
 * bytes, docs/webhooks.md#signatures) by a content-type parser registered only inside this plugin; the handler
 * parses the JSON itself after the signature checked out. Nothing is stored for a rejected request, and every
 * rejection is counted by reason (onResponse below).
 */
export async function registerWebhookRoutes(app: ServiceApp, options: WebhookRoutesOptions): Promise<void> {
  const { sources, repository, committer, metrics } = options
  const rejections = new WeakMap<FastifyRequest, RejectionReason>()
  const replayed = new WeakSet<FastifyRequest>()
  const sourceOf = (request: FastifyRequest) => sources.get((request.params as Params).source)

  function reject(request: FastifyRequest, reason: RejectionReason, error: ProblemError): never {
    rejections.set(request, reason)
    throw error
  }

  function authorize(request: FastifyRequest): SourceConfig {
    const source = sourceOf(request)
    if (!source) throw new ProblemError(ingestProblems.unknownSource, { detail: 'No such webhook source.' })
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')
    if (!match || !timingSafeEqual(digest(match[1] as string), digest(source.readToken))) {
      throw new ProblemError(ingestProblems.invalidReadToken, {
        detail: "A valid bearer token (the source's read token) is required.",
        headers: { 'www-authenticate': 'Bearer realm="webhooks"' },
      })
    }
    return source
  }

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: options.bodyLimit },
      (_r, body, done) => done(null, body),
    )

    scope.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method !== 'POST' || request.routeOptions.url !== POST_PATH) return
      const source = sourceOf(request)?.name ?? 'unknown'
      if (reply.statusCode < 400) {
        const result = replayed.has(request) ? 'duplicate' : 'accepted'
        metrics.received.inc({ source, result })
        if (result === 'duplicate') metrics.duplicates.inc({ source })
        metrics.ackLatency.observe({ source }, reply.elapsedTime / 1000)
        return
      }
      metrics.received.inc({ source, result: 'rejected' })
      metrics.rejected.inc({ source, reason: rejections.get(request) ?? reasonOfStatus(reply.statusCode) })
    })

    scope.post(
      POST_PATH,
      {
        // Each source has its own budget, shared by all its senders and all ingest instances, instead of the
        // service-wide limit per client address.
        config: { rateLimit: false },
        onRequest: sourceRateLimit(options.rateCounter, sourceOf),
        schema: { response: { 200: acceptedSchema } },
      },
      async (request, reply) => {
        const source = sourceOf(request)
        if (!source)
          return reject(
            request,
            'unknown_source',
            new ProblemError(ingestProblems.unknownSource, { detail: 'No such webhook source.' }),
          )
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)

        const verified = verifySignature({ ...source, headers: request.headers, body: raw })
        if (!verified.ok) {
          metrics.signatureFailures.inc({ source: source.name, reason: verified.reason })
          return reject(
            request,
            SIGNATURE_REASON[verified.reason],
            new ProblemError(SIGNATURE_TYPE[verified.reason], { detail: SIGNATURE_DETAIL[verified.reason] }),
          )
        }

        // Refuses, as a 400 before anything is stored, JSON that jsonb cannot hold (\u0000, lone surrogates) or that
        // nests deeper than MAX_JSON_DEPTH: they used to fail the INSERT and answer 503 "retry later".
        let body: unknown
        try {
          body = parseJsonText(raw.toString('utf8'))
        } catch (error) {
          if (!isProblemError(error)) throw error
          return reject(
            request,
            error.type === problemTypes.invalidJson.type ? 'malformed_json' : 'invalid_body',
            error,
          )
        }
        const checked = checkBody(source.format, body, request.headers)
        if (!checked.ok) {
          return reject(
            request,
            'invalid_body',
            new ProblemError(ingestProblems.invalidWebhook, { detail: checked.detail }),
          )
        }

        let result: AcceptResult
        try {
          result = await committer.submit({
            source: source.name,
            format: source.format,
            ...checked.value,
            correlationId: currentCorrelationId() ?? request.id,
          })
        } catch (error) {
          request.log.error({ err: error }, 'could not store webhook')
          return reject(
            request,
            'unavailable',
            new ProblemError(ingestProblems.notStored, {
              detail: 'The event could not be stored; nothing was accepted. Retry later.',
              headers: { 'retry-after': '1' },
              cause: error,
            }),
          )
        }
        if (result.replayed) {
          replayed.add(request)
          reply.header('idempotent-replayed', 'true')
        }
        return {
          id: result.id,
          source: result.source,
          event_id: result.eventId,
          status: result.status,
          status_url: statusUrl(result.source, result.eventId),
        }
      },
    )

    scope.get('/v1/webhooks/:source/:eventId', { schema: { params: statusParams } }, async (request) => {
      const source = authorize(request)
      const row = await repository.findByEventId(source.name, (request.params as Params).eventId ?? '')
      if (!row) {
        throw new ProblemError(ingestProblems.unknownEvent, {
          detail: 'No event with this id (or it is past retention).',
        })
      }
      return present(row)
    })

    scope.get('/v1/webhooks/:source', async (request) => {
      const source = authorize(request)
      const query = request.query as { status?: string; cursor?: string; limit?: string }
      if (query.status !== undefined && !Value.Check(WebhookStatus, query.status)) {
        throw new ProblemError(problemTypes.invalidParameter, {
          detail: 'status must be one of queued, processing, completed, failed, dead.',
        })
      }
      const limit = query.limit === undefined ? 50 : Number(query.limit)
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
        throw new ProblemError(problemTypes.invalidParameter, { detail: 'limit must be an integer from 1 to 500.' })
      }
      const rows = await repository.list(source.name, {
        limit: limit + 1,
        ...(query.status ? { status: query.status as WebhookStatus } : {}),
        ...(query.cursor ? { after: decodeCursor(query.cursor) } : {}),
      })
      const page = rows.slice(0, limit)
      const last = page.at(-1)
      return { items: page.map(present), next_cursor: rows.length > limit && last ? encodeCursor(last) : null }
    })
  })
}
