import { type ProblemType, problemTypes } from '@platform/http'
import { counter, histogram, type Registry } from '@platform/metrics'
import { ingestProblems } from './problems.js'

/**
 * Ingest's own metrics (docs/operations.md#metrics lists them with their labels). Labels are bounded: sources come
 * from the configuration file; an unknown source is counted as "unknown", never by the name the client sent.
 */

/**
 * The one table from a refusal's problem type (problems.ts, and @platform/http's catalog for what Fastify, the
 * request guards and the rate limit refuse) to the `reason` label of webhook_rejected_total. A type not listed
 * counts as "other". The finer signature reasons (stale vs future timestamp, ...) are webhook_signature_failures_total's.
 */
const REASON_OF = [
  [ingestProblems.unknownSource, 'unknown_source'],
  [ingestProblems.missingSignature, 'missing_signature'],
  [ingestProblems.badSignature, 'bad_signature'],
  [ingestProblems.timestampOutsideTolerance, 'timestamp_outside_tolerance'],
  [ingestProblems.invalidWebhook, 'invalid_body'],
  [ingestProblems.notStored, 'unavailable'],
  [problemTypes.invalidJson, 'malformed_json'],
  [problemTypes.jsonTooDeep, 'invalid_body'],
  [problemTypes.invalidCharacters, 'invalid_body'],
  [problemTypes.invalidParameter, 'invalid_parameter'],
  [problemTypes.unsupportedMediaType, 'unsupported_media_type'],
  [problemTypes.bodyTooLarge, 'body_too_large'],
  [problemTypes.rateLimited, 'rate_limited'],
  [problemTypes.unavailable, 'unavailable'],
  [problemTypes.shuttingDown, 'unavailable'],
] as const satisfies readonly (readonly [ProblemType, string])[]

export type RejectionReason = (typeof REASON_OF)[number][1] | 'other'

const REASON_BY_TYPE = new Map<string, RejectionReason>(REASON_OF.map(([problem, reason]) => [problem.type, reason]))

/** The `reason` label of a refusal answered with this problem type (a URI, ProblemError.type). */
export const rejectionReason = (type: string): RejectionReason => REASON_BY_TYPE.get(type) ?? 'other'

/** Milliseconds-scale buckets: the ACK target is p99 < 50 ms. */
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export function ingestMetrics(registry: Registry) {
  return {
    received: counter(
      registry,
      'webhook_received_total',
      'Webhook requests by source and result (accepted, duplicate, rejected)',
      ['source', 'result'],
    ),
    rejected: counter(registry, 'webhook_rejected_total', 'Rejected webhook requests by source and reason', [
      'source',
      'reason',
    ]),
    signatureFailures: counter(
      registry,
      'webhook_signature_failures_total',
      'Signature verification failures by source and reason',
      ['source', 'reason'],
    ),
    ackLatency: histogram(
      registry,
      'webhook_ack_duration_seconds',
      'From request received to the 200 after the commit (accepted and duplicates)',
      ['source'],
      ACK_BUCKETS,
    ),
    batchSize: histogram(
      registry,
      'webhook_group_commit_batch_size',
      'Webhooks committed per transaction',
      [],
      [1, 2, 5, 10, 20, 50, 100, 200, 500],
    ),
    batchDuration: histogram(
      registry,
      'webhook_group_commit_duration_seconds',
      'Time to commit one batch',
      [],
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    ),
    batchFailures: counter(registry, 'webhook_group_commit_failures_total', 'Batches that failed and were split'),
    statusUpdates: counter(registry, 'webhook_status_updates_total', 'Status messages by outcome', ['outcome']),
  }
}

export type IngestMetrics = ReturnType<typeof ingestMetrics>
