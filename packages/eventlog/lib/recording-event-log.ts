import { randomUUID } from 'node:crypto'
import type { Queryable } from '@platform/db'
import type { EventLog, EventLogEntry } from './event-log.js'

export interface RecordedEvent extends EventLogEntry {
  eventId: string
}

/**
 * The test double: same interface, keeps what was recorded in memory, touches no database. For unit tests of
 * business logic ("paying an order records order.paid"). Like the real one it records a fixed eventId once. It does
 * not model rollback; integration tests that care use the real event log.
 */
export function createRecordingEventLog(): EventLog & {
  entries: RecordedEvent[]
  ofType(type: string): RecordedEvent[]
} {
  const entries: RecordedEvent[] = []
  const double = {
    entries,
    ofType: (type: string) => entries.filter((e) => e.eventType === type),
    async record(_tx: Queryable, entry: EventLogEntry) {
      const eventId = entry.eventId ?? randomUUID()
      if (entry.eventId === undefined || !entries.some((e) => e.eventId === eventId))
        entries.push({ ...entry, eventId })
      return eventId
    },
    async recordMany(tx: Queryable, list: EventLogEntry[]) {
      const ids: string[] = []
      for (const entry of list) ids.push(await double.record(tx, entry))
      return ids
    },
  }
  return double
}
