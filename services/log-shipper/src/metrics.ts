import type { ClaimCheckStore } from '@platform/eventlog'
import { counter, gauge, histogram, type Registry } from '@platform/metrics'

/**
 * The shipper's own metrics. Deliveries, acks, dead letters, queue depth and the age of the oldest unacked
 * message come from the bulk consumer (bulk_consumer_*{queue="log-shipper.eventlog"}); docs/eventlog.md says
 * what to alert on.
 */
/** The `outcome` of log_shipper_insert_duration_seconds. */
export const INSERT_OUTCOMES = ['ok', 'rejected', 'unavailable'] as const

export function shipperMetrics(registry: Registry, claims: ClaimCheckStore) {
  const metrics = {
    eventsReceived: counter(
      registry,
      'log_shipper_events_received_total',
      'Events delivered to the shipper (a message counts its events; redeliveries count again)',
    ),
    rowsInserted: counter(registry, 'log_shipper_rows_inserted_total', 'Rows ClickHouse accepted'),
    batchRows: histogram(
      registry,
      'log_shipper_batch_rows',
      'Rows per batch handed to the sink',
      [],
      [1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000, 20_000],
    ),
    batchBytes: histogram(
      registry,
      'log_shipper_batch_bytes',
      'Bytes per batch: the message bodies, plus the contexts held by claim check (what the byte limit counts)',
      [],
      [1e3, 1e4, 1e5, 1e6, 4e6, 16e6, 64e6],
    ),
    insertDuration: histogram(
      registry,
      'log_shipper_insert_duration_seconds',
      'Duration of one insert call, by outcome (ok, rejected, unavailable)',
      ['outcome'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    failedRows: counter(registry, 'log_shipper_failed_rows_total', 'Rows ClickHouse rejected, dead-lettered'),
    alreadyShipped: counter(
      registry,
      'log_shipper_already_shipped_total',
      'Redelivered claim-check messages whose payload was already shipped and cleaned up',
    ),
    oldestClaim: gauge(
      registry,
      'log_shipper_oldest_claim_check_seconds',
      'Age of the oldest large context waiting in the claim-check store (0 when none)',
      [],
      async function collect() {
        try {
          this.set(await claims.oldestAgeSeconds())
        } catch {
          // A scrape must not fail because PostgreSQL is down; readiness reports that.
        }
      },
    ),
  }
  // Each outcome's series exists from the first scrape, so the first failing insert shows as an increase()
  // (the ClickHouse alerts of infra/prometheus/alerts.yml).
  for (const outcome of INSERT_OUTCOMES) metrics.insertDuration.zero({ outcome })
  return metrics
}

export type ShipperMetrics = ReturnType<typeof shipperMetrics>
