import { counter, histogram, type Registry } from '@platform/metrics'

/** The processor's own metrics (docs/operations.md); the consumers and the outbox relay add theirs. */
export function processorMetrics(registry: Registry) {
  return {
    processed: counter(registry, 'webhooks_processed_total', 'Webhook events handled, by source and outcome', [
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
    retries: counter(registry, 'processor_retries_total', 'Messages sent to a retry tier, by consumer', ['queue']),
    deadLetters: counter(registry, 'processor_dead_letters_total', 'Messages dead-lettered, by consumer', ['queue']),
    downstream: counter(registry, 'downstream_requests_total', 'Downstream notification calls, by outcome', [
      'outcome',
    ]),
  }
}

export type ProcessorMetrics = ReturnType<typeof processorMetrics>
