import type { EventLoggedV1, EventLogRowV1 } from '@platform/contracts'

/**
 * One row of the ClickHouse `event_log` table as the log-shipper writes it (JSONEachRow keys = column names), and as
 * rows messages carry it (EventLogRowV1). inserted_at is not written: ClickHouse fills it (DEFAULT now()), like
 * every column added later with a default.
 */
export type EventLogRow = EventLogRowV1

/** The columns every row has, in its key order; columns added later get their DEFAULT, producers never change. */
export const EVENT_LOG_COLUMNS = [
  'event_id',
  'service',
  'event_type',
  'event_date_time',
  'environment',
  'event_context',
  'metadata_version',
] as const satisfies readonly (keyof EventLogRow)[]

/**
 * The trace columns (ClickHouse migration 0002_trace_context): keys of the rows of events recorded inside a span, after
 * the others; a row without them gets '' (the type's zero value, which is also their DEFAULT, on 18.16 too).
 */
export const TRACE_COLUMNS = ['trace_id', 'span_id'] as const satisfies readonly (keyof EventLogRow)[]

/** What the shipper names in its INSERT. */
export const EVENT_LOG_INSERT_COLUMNS = [...EVENT_LOG_COLUMNS, ...TRACE_COLUMNS] as const

export function toRow(event: EventLoggedV1, context: string): EventLogRow {
  const row: EventLogRow = {
    event_id: event.eventId,
    service: event.service,
    event_type: event.eventType,
    event_date_time: event.eventDateTime,
    environment: event.environment,
    event_context: context,
    metadata_version: event.metadataVersion,
  }
  if (event.traceId && event.spanId) {
    row.trace_id = event.traceId
    row.span_id = event.spanId
  }
  return row
}
