import type { EventLogRow } from '@platform/eventlog'

export { EVENT_LOG_COLUMNS, type EventLogRow, toRow } from '@platform/eventlog'

/**
 * Where the shipper writes the event log. ClickHouse today (clickhouse-sink.ts); another database replaces it by
 * implementing these two methods (docs/adr/0006-clickhouse-dedup-and-portability.md).
 */
export interface EventSink {
  /**
   * Writes every row or throws. Throw LogShipperError LOGSHIP_ROWS_REJECTED when the data itself was refused
   * (the shipper then bisects the batch to find the rows); any other error means "not now" and the whole batch
   * is retried later. The same rows may be written again (a redelivered batch): reads must deduplicate by
   * event_id, or the sink must ignore repeats.
   */
  insert(rows: EventLogRow[]): Promise<void>
  /** For readiness: true when the sink answers. */
  ping(): Promise<boolean>
}
