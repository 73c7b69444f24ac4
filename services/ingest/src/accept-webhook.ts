import type { IncomingHttpHeaders } from 'node:http'
import { ProblemError, parseJsonText } from '@platform/http'
import { currentCarrier } from '@platform/tracing'
import type { AcceptItem, AcceptResult } from './accept-batch.js'
import type { GroupCommitter } from './group-commit.js'
import type { IngestMetrics } from './metrics.js'
import { checkBody } from './payloads.js'
import { ingestProblems } from './problems.js'
import { type SignatureFailure, verifySignature } from './signatures.js'
import type { SourceConfig } from './sources.js'

/**
 * Accepting one webhook delivery (docs/webhooks.md): the signature over the raw bytes first, then the JSON, then the
 * source's format, then the group commit. Every refusal is a ProblemError of ingest's catalog (problems.ts), thrown
 * before anything is stored; its type alone decides the rejection reason the route counts (metrics.ts).
 */
export interface AcceptWebhookDeps {
  committer: GroupCommitter<AcceptItem, AcceptResult>
  metrics: IngestMetrics
}

export interface WebhookDelivery {
  /** The configured source the path names; undefined for a name the sources file does not hold. */
  source: SourceConfig | undefined
  headers: IncomingHttpHeaders
  /** The body exactly as received: the signature covers these bytes (docs/webhooks.md#signatures). */
  body: Buffer
  correlationId: string
}

/** Each signature failure: its problem type and what the answer says. */
const SIGNATURE_PROBLEM = {
  missing_headers: { type: ingestProblems.missingSignature, detail: 'The signature headers are missing.' },
  malformed_header: { type: ingestProblems.badSignature, detail: 'The signature header is malformed.' },
  mismatch: { type: ingestProblems.badSignature, detail: 'The signature does not match the body.' },
  stale_timestamp: { type: ingestProblems.timestampOutsideTolerance, detail: 'The signed timestamp is too old.' },
  future_timestamp: {
    type: ingestProblems.timestampOutsideTolerance,
    detail: 'The signed timestamp lies in the future.',
  },
} satisfies Record<SignatureFailure, { type: unknown; detail: string }>

export const unknownSource = () => new ProblemError(ingestProblems.unknownSource, { detail: 'No such webhook source.' })

function traceOfRequest(): { trace?: NonNullable<ReturnType<typeof currentCarrier>> } {
  const trace = currentCarrier()
  return trace ? { trace } : {}
}

/** Verifies, parses, checks and stores one delivery; resolves once it is committed (or found to be a replay). */
export async function acceptWebhook(deps: AcceptWebhookDeps, delivery: WebhookDelivery): Promise<AcceptResult> {
  const { source, body: raw } = delivery
  if (!source) throw unknownSource()

  const verified = verifySignature({ ...source, headers: delivery.headers, body: raw })
  if (!verified.ok) {
    // The finer reason (stale vs future timestamp, malformed vs mismatching header) is kept in this metric only.
    deps.metrics.signatureFailures.inc({ source: source.name, reason: verified.reason })
    const problem = SIGNATURE_PROBLEM[verified.reason]
    throw new ProblemError(problem.type, { detail: problem.detail })
  }

  // Refuses, as a 400 before anything is stored, JSON that jsonb cannot hold (\u0000, lone surrogates) or that
  // nests deeper than MAX_JSON_DEPTH: they used to fail the INSERT and answer 503 "retry later".
  const body = parseJsonText(raw.toString('utf8'))
  const checked = checkBody(source.format, body, delivery.headers)
  if (!checked.ok) throw new ProblemError(ingestProblems.invalidWebhook, { detail: checked.detail })

  try {
    return await deps.committer.submit({
      source: source.name,
      format: source.format,
      ...checked.value,
      correlationId: delivery.correlationId,
      // Tracing on: the request's span (its messages continue it); nothing otherwise.
      ...traceOfRequest(),
    })
  } catch (error) {
    // The error handler logs a 5xx with its cause (problem-handler.ts); the client only learns to retry.
    throw new ProblemError(ingestProblems.notStored, {
      detail: 'The event could not be stored; nothing was accepted. Retry later.',
      headers: { 'retry-after': '1' },
      cause: error,
    })
  }
}
