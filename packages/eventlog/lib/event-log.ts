import { randomUUID } from 'node:crypto'
import {
  ENVELOPE_BYTES,
  EVENT_COUNT_HEADER,
  EVENTS_PER_ENVELOPE,
  type EventLoggedV1,
  eventLogged,
  eventLogRows,
  ROWS_PREFIX,
  ROWS_SUFFIX,
} from '@platform/contracts'
import type { Queryable } from '@platform/db'
import { routingKeyOf } from '@platform/messaging'
import { enqueue, type OutboxMessage } from '@platform/outbox'
import { activeSpanContext } from '@platform/tracing'
import { toRow } from './row.js'

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
  /**
   * A fixed event id (a UUID), for a producer that may record the same event again: a consumer handling a redelivered
   * message (messageEventLog derives it, eventIdFor). An event with a fixed id is recorded at most once: a later
   * record of the id, in any transaction, writes nothing and returns the id (the first recording's time and context
   * stay). Without it the id is a new random UUID and nothing is checked.
   */
  eventId?: string
  /**
   * The span the event belongs to, written to the row's trace_id and span_id. Defaults to the active span (tracing
   * on); a producer that records for others (ingest's group commit, for each request) names each one's.
   */
  trace?: { traceId: string; spanId: string }
}

export interface EventLog {
  /**
   * Records an event inside the caller's transaction. Commit: it will reach ClickHouse. Rollback: it never will.
   * Returns the event id. ClickHouse being down or slow never fails or slows this call: it only writes PostgreSQL.
   * An entry with a fixed eventId that was recorded before writes nothing (EventLogEntry.eventId).
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
  eventId = entry.eventId ?? randomUUID(),
): {
  message: EventLoggedV1
  claim?: { id: string; service: string; context: string }
} {
  const context = JSON.stringify(entry.context ?? null)
  const threshold = options.claimCheckThresholdBytes ?? DEFAULT_CLAIM_CHECK_THRESHOLD
  // UTF-8 takes at most 3 bytes per UTF-16 unit: short contexts skip the byte count.
  const bytes = context.length * 3 <= threshold ? context.length : Buffer.byteLength(context)
  const large = bytes > threshold
  const trace = entry.trace ?? activeSpanContext()
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
      ...(trace ? { traceId: trace.traceId, spanId: trace.spanId } : {}),
    },
    ...(large ? { claim: { id: eventId, service: options.service, context } } : {}),
  }
}

export interface EnvelopeLimits {
  maxEvents: number
  maxBytes: number
}

/**
 * Packs JSON texts into envelopes `prefix + texts joined by commas + suffix` of at most maxEvents texts and maxBytes
 * bytes of UTF-8 (a text alone may be larger: an event may reach the claim-check threshold, which is the same size).
 * Returns each envelope's text, the index of its first text and its count.
 */
export function packEnvelopes(
  texts: string[],
  frame: { prefix: string; suffix: string },
  limits: EnvelopeLimits = { maxEvents: EVENTS_PER_ENVELOPE, maxBytes: ENVELOPE_BYTES },
): { from: number; count: number; text: string }[] {
  const wrapper = frame.prefix.length + frame.suffix.length
  const envelopes: { from: number; count: number; text: string }[] = []
  let from = 0
  let bytes = wrapper
  const flush = (to: number) => {
    if (to > from)
      envelopes.push({ from, count: to - from, text: frame.prefix + texts.slice(from, to).join(',') + frame.suffix })
    from = to
    bytes = wrapper
  }
  texts.forEach((json, i) => {
    const size = Buffer.byteLength(json) + 1
    if (i > from && (i - from >= limits.maxEvents || bytes + size > limits.maxBytes)) flush(i)
    bytes += size
  })
  flush(texts.length)
  return envelopes
}

/**
 * JSON string literals of the short values that repeat from event to event (service, event type, environment, the
 * formatted second), so each is escaped once rather than once per event. Bounded: past the limit a value is
 * escaped every time, which is only slower.
 */
const quotedCache = new Map<string, string>()
function quoted(value: string): string {
  let text = quotedCache.get(value)
  if (text === undefined) {
    text = JSON.stringify(value)
    if (quotedCache.size < 1024) quotedCache.set(value, text)
  }
  return text
}

/**
 * The JSON text of an event's ClickHouse row, exactly what JSON.stringify(toRow(message, context)) writes (same keys,
 * same order, same escapes), written directly: no row object is built, the context text is escaped once and the
 * repeating values come from `quoted` (less than half the cost of JSON.stringify of a row object, measured).
 */
export function rowJson(message: EventLoggedV1, context: string): string {
  return (
    `{"event_id":${JSON.stringify(message.eventId)},"service":${quoted(message.service)},` +
    `"event_type":${quoted(message.eventType)},"event_date_time":${quoted(message.eventDateTime)},` +
    `"environment":${quoted(message.environment)},"event_context":${JSON.stringify(context)},` +
    `"metadata_version":${JSON.stringify(message.metadataVersion)}` +
    // Hex ids, nothing to escape.
    (message.traceId && message.spanId ? `,"trace_id":"${message.traceId}","span_id":"${message.spanId}"}` : '}')
  )
}

/**
 * Events whose context travels inline, as rows messages (eventLogRows): each row's JSON written once (rowJson), the
 * envelope joined from those texts, the row count in the EVENT_COUNT_HEADER header.
 */
export function rowsMessages(messages: EventLoggedV1[], limits?: EnvelopeLimits): OutboxMessage[] {
  const texts = messages.map((m) => rowJson(m, m.context ?? 'null'))
  return packEnvelopes(texts, { prefix: ROWS_PREFIX, suffix: ROWS_SUFFIX }, limits).map(({ from, count, text }) => ({
    exchange: eventLogRows.exchange.name,
    routingKey: routingKeyOf(eventLogRows, { rows: [toRow(messages[from] as EventLoggedV1, '')] }),
    type: eventLogRows.type,
    body: undefined,
    bodyJson: text,
    headers: { [EVENT_COUNT_HEADER]: count },
  }))
}

/** One event as its own message (eventLogged): message id = event id, routing key by event type. */
function eventMessage(message: EventLoggedV1): OutboxMessage {
  return {
    exchange: eventLogged.exchange.name,
    routingKey: routingKeyOf(eventLogged, message),
    type: eventLogged.type,
    body: message,
    messageId: message.eventId,
  }
}

/**
 * Of the built events, those to write: every event without a fixed id, and each fixed id that is new to
 * eventlog_claims.recorded_events (inserted here, in the caller's transaction: commit and the id counts as recorded,
 * rollback and it never was). A second transaction recording the same id waits on the first one's key, then sees it.
 */
async function unrecorded<B extends { message: EventLoggedV1 }>(
  tx: Queryable,
  service: string,
  entries: EventLogEntry[],
  built: B[],
): Promise<B[]> {
  const fixed = built.filter((_, i) => entries[i]?.eventId !== undefined).map((b) => b.message.eventId.toLowerCase())
  if (fixed.length === 0) return built
  const rows = await tx<{ event_id: string }[]>`
    insert into eventlog_claims.recorded_events (event_id, service)
    select id, ${service} from unnest(${fixed}::uuid[]) as id
    on conflict do nothing
    returning event_id::text`
  const fresh = new Set(rows.map((r) => r.event_id))
  // delete: an id given twice in one call is written once.
  return built.filter((b, i) => entries[i]?.eventId === undefined || fresh.delete(b.message.eventId.toLowerCase()))
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
      const all = entries.map((entry) => buildEventMessage(options, entry))
      const built = await unrecorded(tx, options.service, entries, all)
      if (built.length === 0) return all.map((b) => b.message.eventId)
      const claims = built.flatMap((b) => (b.claim ? [b.claim] : []))
      if (claims.length > 0) await tx`insert into eventlog_claims.payloads ${tx(claims)}`
      const messages = built.map((b) => b.message)
      // One event alone (record()) travels as eventLogged. Of several, a large one travels alone by claim check and
      // the others as rows messages, one outbox row (one AMQP message) per envelope; the shipper deduplicates by
      // event id, not message id.
      const large = messages.filter((m) => m.context === null)
      await enqueue(
        tx,
        messages.length === 1
          ? messages.map(eventMessage)
          : [...large.map(eventMessage), ...rowsMessages(messages.filter((m) => m.context !== null))],
      )
      return all.map((b) => b.message.eventId)
    },
  }
  return eventLog
}
