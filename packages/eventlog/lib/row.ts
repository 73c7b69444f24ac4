import type { EventLoggedV1, EventLogRowV1 } from '@platform/contracts'

/**
 * One row of the ClickHouse `event_log` table as the log-shipper writes it (JSONEachRow keys = column names), and as
 * rows messages carry it (EventLogRowV1). inserted_at is not written: ClickHouse fills it (DEFAULT now()), like
 * every column added later with a default.
 */
export type EventLogRow = EventLogRowV1

/** The columns the shipper names in its INSERT; columns added later get their DEFAULT, producers never change. */
export const EVENT_LOG_COLUMNS = [
  'event_id',
  'service',
  'event_type',
  'event_date_time',
  'environment',
  'event_context',
  'metadata_version',
] as const satisfies readonly (keyof EventLogRow)[]

export function toRow(event: EventLoggedV1, context: string): EventLogRow {
  return {
    event_id: event.eventId,
    service: event.service,
    event_type: event.eventType,
    event_date_time: event.eventDateTime,
    environment: event.environment,
    event_context: context,
    metadata_version: event.metadataVersion,
  }
}
