import type { Sql } from '@platform/db'
import { counter, gauge, histogram, type Registry } from '@platform/metrics'

/**
 * Analytics' own metrics (docs/operations.md#metrics, docs/analytics.md#alerts); the bulk consumer (bulk_consumer_*),
 * the outbox relay and the HTTP layer add theirs. `way` says how events came in: `http` (POST /v1/events) or
 * `consumer` (the activity exchange).
 */
export function analyticsMetrics(registry: Registry, sql: Sql) {
  const events = counter(registry, 'analytics_events_total', 'Events handled, by way in and result', ['way', 'result'])
  // At 0 from the start, so a process's first failed POST shows as an increase() (AnalyticsIngestionFailing).
  events.inc({ way: 'http', result: 'failed' }, 0)
  return {
    events,
    lateEvents: counter(
      registry,
      'analytics_late_events_total',
      'Stored events of an earlier UTC day than the day they were stored on',
      ['way'],
    ),
    batchDuration: histogram(
      registry,
      'analytics_batch_duration_seconds',
      'One ingestion transaction: events, user days and daily counts, committed',
      ['way'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    batchSize: histogram(
      registry,
      'analytics_batch_events',
      'Events per ingestion transaction',
      ['way'],
      [1, 10, 100, 500, 1000, 2500, 5000, 10_000],
    ),
    /** performedAt -> committed: how far behind the event the rollups are (late events show up in the tail). */
    freshness: histogram(
      registry,
      'analytics_event_delay_seconds',
      'Time from an event happening to its commit',
      ['way'],
      [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86_400],
    ),
    partitionsAhead: gauge(
      registry,
      'analytics_partitions_ahead',
      'Monthly event partitions after the current month (inserts of a month without one fail)',
      [],
      async function () {
        const [row] = await sql<{ ahead: number }[]>`
          select count(*)::int as ahead from pg_inherits i
          join pg_class c on c.oid = i.inhrelid
          where i.inhparent = 'events'::regclass
            and c.relname > 'events_p' || to_char(now() at time zone 'UTC', 'YYYYMM')`.catch(() => [])
        if (row) this.set(row.ahead)
      },
    ),
  }
}

export type AnalyticsMetrics = ReturnType<typeof analyticsMetrics>
