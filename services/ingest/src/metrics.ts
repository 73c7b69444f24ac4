import { counter, histogram, type Registry } from '@platform/metrics'

/**
 * Ingest's own metrics (docs/operations.md says which to alert on). Labels are bounded: sources come from the
 * configuration file; an unknown source is counted as "unknown", never by the name the client sent.
 */
export type RejectionReason =
  | 'unknown_source'
  | 'missing_signature'
  | 'bad_signature'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'malformed_json'
  | 'invalid_body'
  | 'unsupported_media_type'
  | 'body_too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'other'

/** Milliseconds-scale buckets: the ACK target is p99 < 50 ms. */
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export function ingestMetrics(registry: Registry) {
  return {
    received: counter(registry, 'webhooks_received_total', 'Webhook requests by source and result', [
      'source',
      'result',
    ]),
    rejected: counter(registry, 'webhooks_rejected_total', 'Rejected webhook requests by source and reason', [
      'source',
      'reason',
    ]),
    signatureFailures: counter(
      registry,
      'webhook_signature_failures_total',
      'Signature verification failures by source and reason',
      ['source', 'reason'],
    ),
    duplicates: counter(registry, 'webhooks_duplicates_total', 'Webhooks answered as duplicates', ['source']),
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

/** What a rejection's status code means when the handler did not say (Fastify's parser and the rate limiter). */
export function reasonOfStatus(status: number): RejectionReason {
  switch (status) {
    case 400:
      return 'malformed_json'
    case 404:
      return 'unknown_source'
    case 413:
      return 'body_too_large'
    case 415:
      return 'unsupported_media_type'
    case 429:
      return 'rate_limited'
    case 503:
      return 'unavailable'
    default:
      return 'other'
  }
}
