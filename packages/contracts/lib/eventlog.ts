import { DEFAULT_RETRY, defineConsumer, defineMessage } from '@platform/messaging'
import Type, { type Static } from 'typebox'
import { exchanges } from './exchanges.js'

const TraceId = Type.String({ pattern: '^[0-9a-f]{32}$' })
const SpanId = Type.String({ pattern: '^[0-9a-f]{16}$' })

/**
 * An event-log record on its way to ClickHouse. Small contexts travel inline; a large one stays in PostgreSQL
 * (claim check, docs/adr/0005-eventlog-claim-check.md) and the message carries only its id and size.
 */
export const EventLoggedV1 = Type.Object({
  eventId: Type.String({ format: 'uuid' }),
  service: Type.String({ minLength: 1 }),
  eventType: Type.String({ minLength: 1, maxLength: 200 }),
  /**
   * When it happened, UTC, as clickhouseDateTime writes it ("2024-05-01 10:00:00"). The shipper has ClickHouse
   * parse it best-effort, so ISO 8601 with an offset ("2024-05-01T10:00:00Z") is read right too; a value
   * ClickHouse cannot read is a poison row (dead-lettered with the reason, docs/eventlog.md).
   */
  eventDateTime: Type.String({ minLength: 1 }),
  environment: Type.String(),
  /** ClickHouse UInt64; capped at 2^53-1 so it stays exact in JSON. */
  metadataVersion: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  /** The context as JSON text, or null when it is held by the claim check. */
  context: Type.Union([Type.String(), Type.Null()]),
  claimCheck: Type.Union([Type.Object({ id: Type.String(), bytes: Type.Integer({ minimum: 0 }) }), Type.Null()]),
  /** The W3C trace and span id of the span it was recorded in; absent with tracing off (docs/operations.md). */
  traceId: Type.Optional(TraceId),
  spanId: Type.Optional(SpanId),
})
export type EventLoggedV1 = Static<typeof EventLoggedV1>

export const eventLogged = defineMessage({
  type: 'eventlog.recorded.v1',
  exchange: exchanges.eventlog,
  routingKey: (body: EventLoggedV1) => `eventlog.${body.service}.${body.eventType}`,
  schema: EventLoggedV1,
})

/**
 * Several events in one message, the first envelope format: recordMany wrote it before eventLogRows existed, and
 * ingest's group commit wrote it in SQL until it used rowsMessagesSql. Deprecated: no producer writes it; the
 * log-shipper still reads it for messages of it in flight across the upgrade (queue and DLQ), and it is to be
 * removed with that path (services/log-shipper/src/messages.ts, TODO(remove eventlog.batch.v1)).
 * The envelope limits stay: eventLogRows has the same ones. One outbox row and one AMQP message per envelope instead
 * of per event, which is what lets the pipeline approach ClickHouse's bulk rate (loadtest/eventlog). Capped so a
 * message stays as small as a single event may be (the claim-check threshold): EVENTS_PER_ENVELOPE events,
 * ENVELOPE_BYTES of JSON.
 */
export const EVENTS_PER_ENVELOPE = 500
export const ENVELOPE_BYTES = 64 * 1024
export const EventLogBatchV1 = Type.Object({
  events: Type.Array(EventLoggedV1, { minItems: 1, maxItems: EVENTS_PER_ENVELOPE }),
})
export type EventLogBatchV1 = Static<typeof EventLogBatchV1>

export const eventLogBatch = defineMessage({
  type: 'eventlog.batch.v1',
  exchange: exchanges.eventlog,
  routingKey: (body: EventLogBatchV1) => `eventlog.${body.events[0]?.service ?? 'unknown'}.batch`,
  schema: EventLogBatchV1,
})

/** The parsed kinds of the log-shipper's queue: single events and (legacy) envelopes of events. */
export const EventLogMessageV1 = Type.Union([EventLoggedV1, EventLogBatchV1])
export type EventLogMessageV1 = Static<typeof EventLogMessageV1>

/** The events of either parsed kind of message. */
export function eventsOf(body: EventLogMessageV1): EventLoggedV1[] {
  return 'events' in body ? body.events : [body]
}

/**
 * One row of the ClickHouse `event_log` table, keys = the columns the shipper names in its INSERT
 * (EVENT_LOG_COLUMNS, packages/eventlog/lib/row.ts): event_context is the context's JSON text, event_date_time is
 * as in EventLoggedV1. trace_id and span_id only for an event recorded inside a span (tracing on), last.
 */
export const EventLogRowV1 = Type.Object(
  {
    event_id: Type.String({ format: 'uuid' }),
    service: Type.String({ minLength: 1 }),
    event_type: Type.String({ minLength: 1, maxLength: 200 }),
    event_date_time: Type.String({ minLength: 1 }),
    environment: Type.String(),
    event_context: Type.String(),
    metadata_version: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    trace_id: Type.Optional(TraceId),
    span_id: Type.Optional(SpanId),
  },
  { additionalProperties: false },
)
export type EventLogRowV1 = Static<typeof EventLogRowV1>

/**
 * Several events as ClickHouse-ready rows: what recordMany writes for events whose context travels inline (a large
 * one travels alone as eventLogged, by claim check), and ingest's group commit in SQL (rowsMessagesSql). The body is exactly ROWS_PREFIX, the rows' JSON separated by
 * commas, ROWS_SUFFIX, and the AMQP header EVENT_COUNT_HEADER holds the number of rows. The shipper hands the bytes
 * between prefix and suffix to ClickHouse as JSONEachRow without parsing them (docs/eventlog.md), so producers
 * write each row with JSON.stringify (no whitespace) and its keys are exactly the table's columns. Same limits as
 * eventLogBatch: EVENTS_PER_ENVELOPE rows, ENVELOPE_BYTES of JSON.
 */
export const EventLogRowsV1 = Type.Object({
  rows: Type.Array(EventLogRowV1, { minItems: 1, maxItems: EVENTS_PER_ENVELOPE }),
})
export type EventLogRowsV1 = Static<typeof EventLogRowsV1>
export const ROWS_PREFIX = '{"rows":['
export const ROWS_SUFFIX = ']}'
export const EVENT_COUNT_HEADER = 'x-event-count'

export const eventLogRows = defineMessage({
  type: 'eventlog.rows.v1',
  exchange: exchanges.eventlog,
  routingKey: (body: EventLogRowsV1) => `eventlog.${body.rows[0]?.service ?? 'unknown'}.rows`,
  schema: EventLogRowsV1,
})

export const logShipperConsumer = defineConsumer({
  queue: 'log-shipper.eventlog',
  bindings: [{ exchange: exchanges.eventlog, routingKey: 'eventlog.#' }],
  // Declares the usual retry tiers, but the shipper's bulk consumer does not use them: a failed insert is retried
  // in process with the whole batch held unacked (packages/messaging/lib/bulk-consumer.ts).
  retry: DEFAULT_RETRY,
  // Messages (single events, envelopes or rows messages) held unacked at most: two full batches of single events, so the next
  // batch fills while one is being inserted (the shipper acks only after ClickHouse accepted the insert). This is
  // the bound on the shipper's memory while ClickHouse is down: prefetch x 64 KiB at worst, since no message is
  // larger (bigger contexts travel by claim check, envelopes are capped).
  prefetch: 20_000,
})
