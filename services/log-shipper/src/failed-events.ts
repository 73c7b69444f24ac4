import type { EventLoggedV1, EventLogRowV1 } from '@platform/contracts'
import type { Queryable, Sql } from '@platform/db'

export interface FailedEvent {
  batchId: string
  eventId: string
  messageId: string
  error: string
  /** The event as its message carried it: an event of a single-event message or envelope, or a row of a rows message. */
  event: EventLoggedV1 | EventLogRowV1
}

export interface FailedEventRow {
  id: string
  batch_id: string
  event_id: string
  message_id: string
  service: string
  event_type: string
  error: string
  payload_ref: string | null
  /** The event as its message carried it (EventLoggedV1, or EventLogRowV1 from a rows message). */
  message: Record<string, unknown>
  failed_at: Date
}

/** The queryable record of rows ClickHouse rejected (migrations/0002_failed_events.sql). */
export function failedEventsRepository(sql: Sql) {
  return {
    async record(failures: FailedEvent[], tx: Queryable = sql): Promise<void> {
      if (failures.length === 0) return
      const rows = failures.map((f) => ({
        batch_id: f.batchId,
        event_id: f.eventId,
        message_id: f.messageId,
        service: f.event.service,
        event_type: 'eventType' in f.event ? f.event.eventType : f.event.event_type,
        error: f.error,
        payload_ref: 'claimCheck' in f.event ? (f.event.claimCheck?.id ?? null) : null,
        message: tx.json(f.event as never),
      }))
      await tx`insert into failed_events ${tx(rows)}`
    },
    async list(filter: { eventId?: string } = {}, tx: Queryable = sql): Promise<FailedEventRow[]> {
      return tx<FailedEventRow[]>`
        select id, batch_id, event_id, message_id, service, event_type, error, payload_ref, message, failed_at
        from failed_events
        where ${filter.eventId === undefined ? tx`true` : tx`event_id = ${filter.eventId}`}
        order by id`
    },
  }
}
