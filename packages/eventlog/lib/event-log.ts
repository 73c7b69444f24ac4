import { randomUUID } from 'node:crypto'
import {
  ENVELOPE_BYTES,
  EVENTS_PER_ENVELOPE,
  type EventLoggedV1,
  eventLogBatch,
  eventLogged,
} from '@platform/contracts'
import type { Queryable } from '@platform/db'
import { routingKeyOf } from '@platform/messaging'
import { enqueue, enqueueMessage } from '@platform/outbox'

export interface EventLogEntry {
  /** What happened, e.g. "order.paid". */
  eventType: string
  /** Any JSON-serialisable value; stored as JSON text in ClickHouse's event_context. */
  context: unknown
  /** Defaults to the service's configured ENVIRONMENT. */
  environment?: string
  /** Version of the context's shape, for readers of event_context. Defaults to 1. */
  metadataVersion?: number
  /** When it happened; defaults to now. */
  occurredAt?: Date
}

export interface EventLog {
  /**
   * Records an event inside the caller's transaction. Commit: it will reach ClickHouse. Rollback: it never will.
   * Returns the event id. ClickHouse being down or slow never fails or slows this call: it only writes PostgreSQL.
   */
  record(tx: Queryable, entry: EventLogEntry): Promise<string>
  /**
   * Records several events in the caller's transaction with one statement per table, travelling as envelopes of
   * many events per message (bulk producers, backfills). Same guarantees as record; returns the ids in order.
   */
  recordMany(tx: Queryable, entries: EventLogEntry[]): Promise<string[]>
}

export interface EventLogOptions {
  service: string
  environment: string
  /** Contexts larger than this (bytes of JSON) stay in PostgreSQL and travel as a claim check. */
  claimCheckThresholdBytes?: number
}

export const DEFAULT_CLAIM_CHECK_THRESHOLD = 64 * 1024

/** ClickHouse DateTime has second precision and no zone: we send UTC "YYYY-MM-DD hh:mm:ss". */
export function clickhouseDateTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ')
}

// Events recorded without occurredAt in the same second share one formatted time (toISOString per event shows up
// in producer profiles).
let nowSecond = Number.NaN
let nowText = ''
function clickhouseNow(): string {
  const second = Math.floor(Date.now() / 1000)
  if (second !== nowSecond) {
    nowText = clickhouseDateTime(new Date(second * 1000))
    nowSecond = second
  }
  return nowText
}

export function buildEventMessage(
  options: EventLogOptions,
  entry: EventLogEntry,
  eventId = randomUUID(),
): {
  message: EventLoggedV1
  claim?: { id: string; service: string; context: string }
} {
  const context = JSON.stringify(entry.context ?? null)
  const threshold = options.claimCheckThresholdBytes ?? DEFAULT_CLAIM_CHECK_THRESHOLD
  // UTF-8 takes at most 3 bytes per UTF-16 unit: short contexts skip the byte count.
  const bytes = context.length * 3 <= threshold ? context.length : Buffer.byteLength(context)
  const large = bytes > threshold
  return {
    message: {
      eventId,
      service: options.service,
      eventType: entry.eventType,
      eventDateTime: entry.occurredAt ? clickhouseDateTime(entry.occurredAt) : clickhouseNow(),
      environment: entry.environment ?? options.environment,
      metadataVersion: entry.metadataVersion ?? 1,
      context: large ? null : context,
      claimCheck: large ? { id: eventId, bytes } : null,
    },
    ...(large ? { claim: { id: eventId, service: options.service, context } } : {}),
  }
}

/**
 * Splits built events into envelopes of at most EVENTS_PER_ENVELOPE events and ENVELOPE_BYTES of JSON (an event
 * alone may reach the claim-check threshold, which is the same size).
 */
export function envelopes(
  messages: EventLoggedV1[],
  limits = { maxEvents: EVENTS_PER_ENVELOPE, maxBytes: ENVELOPE_BYTES },
): EventLoggedV1[][] {
  const wrapper = '{"events":[]}'.length
  const chunks: EventLoggedV1[][] = []
  let current: EventLoggedV1[] = []
  let bytes = wrapper
  for (const message of messages) {
    const size = Buffer.byteLength(JSON.stringify(message)) + 1
    if (current.length > 0 && (current.length >= limits.maxEvents || bytes + size > limits.maxBytes)) {
      chunks.push(current)
      current = []
      bytes = wrapper
    }
    current.push(message)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/**
 * The same split as `envelopes`, producing each envelope's JSON text directly (each event serialised once, no
 * second JSON.stringify of the whole body), with its first event for the routing key.
 */
export function envelopeTexts(
  messages: EventLoggedV1[],
  limits = { maxEvents: EVENTS_PER_ENVELOPE, maxBytes: ENVELOPE_BYTES },
): { first: EventLoggedV1; count: number; text: string }[] {
  const wrapper = '{"events":[]}'.length
  const chunks: { first: EventLoggedV1; count: number; text: string }[] = []
  let parts: string[] = []
  let first: EventLoggedV1 | undefined
  let bytes = wrapper
  const flush = () => {
    if (first) chunks.push({ first, count: parts.length, text: `{"events":[${parts.join(',')}]}` })
    parts = []
    first = undefined
    bytes = wrapper
  }
  for (const message of messages) {
    const json = JSON.stringify(message)
    const size = Buffer.byteLength(json) + 1
    if (parts.length > 0 && (parts.length >= limits.maxEvents || bytes + size > limits.maxBytes)) flush()
    if (!first) first = message
    parts.push(json)
    bytes += size
  }
  flush()
  return chunks
}

/** The event log business code uses; writes through the service's transactional outbox. */
export function createEventLog(options: EventLogOptions): EventLog {
  const eventLog: EventLog = {
    async record(tx, entry) {
      const [id] = await eventLog.recordMany(tx, [entry])
      return id as string
    },
    async recordMany(tx, entries) {
      if (entries.length === 0) return []
      const built = entries.map((entry) => buildEventMessage(options, entry))
      const claims = built.flatMap((b) => (b.claim ? [b.claim] : []))
      if (claims.length > 0) await tx`insert into eventlog_claims.payloads ${tx(claims)}`
      const messages = built.map((b) => b.message)
      const [single] = messages
      if (messages.length === 1 && single) {
        await enqueueMessage(tx, eventLogged, single, { messageId: single.eventId })
      } else {
        // One outbox row (one AMQP message) per envelope; the shipper deduplicates by event id, not message id.
        await enqueue(
          tx,
          envelopeTexts(messages).map(({ first, text }) => ({
            exchange: eventLogBatch.exchange.name,
            routingKey: routingKeyOf(eventLogBatch, { events: [first] }),
            type: eventLogBatch.type,
            body: undefined,
            bodyJson: text,
          })),
        )
      }
      return messages.map((m) => m.eventId)
    },
  }
  return eventLog
}
