import { counter, histogram, type Registry } from '@platform/metrics'

/**
 * The processor's own metrics (docs/operations.md#metrics); the consumers and the outbox relay add theirs. Retries
 * and dead letters are the consumers' consumer_messages_total{queue,outcome="retry"|"dead"}, counted once the
 * message sits in its retry queue or DLQ: the processor does not count them a second time under its own name.
 */
export function processorMetrics(registry: Registry) {
  return {
    processed: counter(registry, 'webhook_processed_total', 'Webhook events handled, by source and outcome', [
      'source',
      'outcome',
    ]),
    duration: histogram(
      registry,
      'webhook_processing_duration_seconds',
      'Handling time of a webhook event, by source and outcome',
      ['source', 'outcome'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    downstream: counter(registry, 'downstream_requests_total', 'Downstream notification calls, by outcome', [
      'outcome',
    ]),
  }
}

export type ProcessorMetrics = ReturnType<typeof processorMetrics>
