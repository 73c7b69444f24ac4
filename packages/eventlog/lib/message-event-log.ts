import { createHash } from 'node:crypto'
import type { Queryable } from '@platform/db'
import type { EventLog, EventLogEntry } from './event-log.js'

/**
 * Event ids of the events a consumer records while it handles a message, derived from that message.
 *
 * Delivery is at least once: a consumer that recorded an event and died before its ack (a SIGKILL, a lost channel)
 * gets the message again and records the event again. With a random id per recording the two copies were two rows in
 * ClickHouse, which no FINAL collapses. Derived ids make them one event: the same message, event type and occurrence
 * give the same id, and the event log writes a fixed id at most once (EventLogEntry.eventId).
 *
 * The id is a name-based UUID (version 5, SHA-1; RFC 9562 section 5.5) of (consumer, message id, event type,
 * occurrence). What it deliberately leaves out: the delivery's attempt number, the broker's redelivered flag and the
 * replay count. A redelivery, a retry copy and an operator's replay from the DLQ all carry the message id, so an
 * event of the message keeps one id through all of them: a replay that processes the message again still records
 * the same logical event once. An event that legitimately happens once per trip through the DLQ (the processor's
 * `webhook.dead_lettered`) says so with an explicit occurrence, the replay count: each dead-lettering is its own event,
 * a crash's repetition of one is not.
 */

/** The namespace of derived event ids: a UUID of this project's, fixed forever (changing it changes every id). */
export const MESSAGE_EVENT_NAMESPACE = 'f25bc56c-f4dd-4a80-9cb9-f05d4c05d12c'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A version 5 UUID: SHA-1 of the namespace's 16 bytes and the name's UTF-8, version and variant bits set. */
export function uuidV5(namespace: string, name: string): string {
  if (!UUID.test(namespace)) throw new Error(`not a UUID: ${JSON.stringify(namespace)}`)
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest()
  hash[6] = ((hash[6] as number) & 0x0f) | 0x50
  hash[8] = ((hash[8] as number) & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** A message as one consumer sees it: the consumer (its queue) and the message id every copy of it carries. */
export interface HandledMessage {
  consumer: string
  messageId: string
}

/**
 * The id of the `occurrence`-th event of `eventType` recorded while `consumer` handles message `messageId`.
 * The consumer is part of it: two consumers of one message (a fan-out) that record the same type are two events.
 */
export function eventIdFor(handled: HandledMessage, eventType: string, occurrence: number | string = 0): string {
  // A JSON array: no choice of message id or type can make two different tuples one name.
  const name = JSON.stringify([handled.consumer, handled.messageId, eventType, String(occurrence)])
  return uuidV5(MESSAGE_EVENT_NAMESPACE, name)
}

export interface MessageEventLogEntry extends EventLogEntry {
  /**
   * Which of this type's events of the message this is. By default the events of a type are counted in the order
   * this recorder records them (0, 1, ...), which a handler repeats on a redelivery. Give it when the event belongs
   * to something the message goes through more than once, e.g. the replay count for a dead-lettering. An entry with
   * an explicit occurrence does not advance the count.
   */
  occurrence?: number | string
}

/** An event log bound to one handling of one message: every event it records gets a derived id. */
export interface MessageEventLog extends EventLog {
  readonly handled: HandledMessage
  record(tx: Queryable, entry: MessageEventLogEntry): Promise<string>
  recordMany(tx: Queryable, entries: MessageEventLogEntry[]): Promise<string[]>
}

/**
 * The recorder for one handling of a message: make one per delivery (its occurrence count starts at 0), pass it to
 * whatever the handler calls. An entry's own eventId, when given, is kept.
 */
export function messageEventLog(eventLog: EventLog, handled: HandledMessage): MessageEventLog {
  const counts = new Map<string, number>()
  const withId = ({ occurrence, ...entry }: MessageEventLogEntry): EventLogEntry => {
    let n = occurrence
    if (n === undefined) {
      n = counts.get(entry.eventType) ?? 0
      counts.set(entry.eventType, n + 1)
    }
    return { ...entry, eventId: entry.eventId ?? eventIdFor(handled, entry.eventType, n) }
  }
  return {
    handled,
    record: (tx, entry) => eventLog.record(tx, withId(entry)),
    recordMany: (tx, entries) => eventLog.recordMany(tx, entries.map(withId)),
  }
}

/**
 * What a consumer's handler is given instead of the service's event log: no `record` of its own, only `of(message)`,
 * the recorder of that message's handling, so a handler cannot record an event with a random id by mistake.
 */
export interface ConsumerEventLog {
  readonly consumer: string
  of(message: { messageId: string }): MessageEventLog
}

/** The event log of the consumer of `consumer` (its queue name, which stays the same across deploys). */
export function consumerEventLog(eventLog: EventLog, consumer: string): ConsumerEventLog {
  return {
    consumer,
    of: (message) => messageEventLog(eventLog, { consumer, messageId: message.messageId }),
  }
}
