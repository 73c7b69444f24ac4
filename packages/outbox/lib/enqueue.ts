import { randomUUID } from 'node:crypto'
import { jsonText, type Queryable } from '@platform/db'
import { currentCorrelationId } from '@platform/logging'
import { type MessageDef, routingKeyOf } from '@platform/messaging'
import { currentCarrier, type TraceCarrier } from '@platform/tracing'
import type { Static, TSchema } from 'typebox'
import { insertOutboxRows } from './outbox-rows.js'

export interface OutboxMessage {
  exchange: string
  routingKey: string
  body: unknown
  /**
   * The body's JSON text, already serialised (it replaces `body`): a bulk producer that built the text itself
   * saves a second JSON.stringify. Must be valid JSON; PostgreSQL checks it on insert.
   */
  bodyJson?: string
  type?: string
  /** Defaults to a new UUID. Consumers deduplicate by it, so a republished row has no second effect. */
  messageId?: string
  headers?: Record<string, unknown>
  /** Messages with the same key are published in the order they were enqueued (e.g. an order id). */
  orderingKey?: string
  /** Defaults to the correlation id of the current request or message. */
  correlationId?: string
  /**
   * The trace context the relay's publish continues. Defaults to the active span's (tracing on): the request or the
   * message being handled. null: none.
   */
  trace?: TraceCarrier | null
}

/**
 * One row of enqueueMany's parameter as JSON text. The body goes in as the text it already is (bodyJson, or
 * JSON.stringify of body): json_to_recordset hands a json column the text as written, so it reaches the outbox, and
 * the broker, unchanged.
 */
function rowJson(
  m: OutboxMessage,
  messageId: string,
  correlationId: string | null,
  trace: TraceCarrier | undefined,
): string {
  const body = m.bodyJson ?? (JSON.stringify(m.body) as string | undefined) ?? 'null'
  const carrier = m.trace === undefined ? trace : (m.trace ?? undefined)
  return (
    `{"message_id":${JSON.stringify(messageId)},"exchange":${JSON.stringify(m.exchange)},` +
    `"routing_key":${JSON.stringify(m.routingKey)},"type":${JSON.stringify(m.type ?? null)},"body":${body},` +
    `"headers":${JSON.stringify(m.headers ?? null)},"correlation_id":${JSON.stringify(m.correlationId ?? correlationId)},` +
    `"ordering_key":${JSON.stringify(m.orderingKey ?? null)}` +
    // Absent keys read as null: with tracing off the parameter is what it was.
    (carrier ? `,"traceparent":${JSON.stringify(carrier.traceparent)}` : '') +
    (carrier?.tracestate ? `,"tracestate":${JSON.stringify(carrier.tracestate)}` : '') +
    '}'
  )
}

/**
 * Writes messages into the outbox inside the caller's transaction: they are published if and only if the
 * transaction commits (the transactional outbox, https://microservices.io/patterns/data/transactional-outbox.html).
 * ONE statement whatever the count, with ONE parameter (the rows as a JSON array, read by json_to_recordset): a
 * fixed statement text, prepared once, and no parameter per column and row (~4x the cost per row, measured in
 * loadtest/ingest/bench.ts). Rows are inserted in the order given, which is what per-key order rests on.
 * Returns the message ids, in order.
 */
export async function enqueueMany(tx: Queryable, messages: readonly OutboxMessage[]): Promise<string[]> {
  if (messages.length === 0) return []
  const correlationId = currentCorrelationId() ?? null
  const trace = currentCarrier()
  const ids = messages.map((m) => m.messageId ?? randomUUID())
  const rows = `[${messages.map((m, i) => rowJson(m, ids[i] as string, correlationId, trace)).join(',')}]`
  await tx`${insertOutboxRows(
    tx,
    tx`select * from json_to_recordset(${jsonText(tx, rows)}::json) as m(
      message_id uuid, exchange text, routing_key text, type text, body json, headers jsonb, correlation_id text,
      ordering_key text, traceparent text, tracestate text)`,
  )}`
  return ids
}

/** enqueueMany of one message or several. */
export async function enqueue(tx: Queryable, messages: OutboxMessage | readonly OutboxMessage[]): Promise<string[]> {
  return enqueueMany(tx, Array.isArray(messages) ? messages : [messages as OutboxMessage])
}

/** `enqueue` for a catalog message: exchange, routing key and type come from its definition. */
export async function enqueueMessage<S extends TSchema>(
  tx: Queryable,
  def: MessageDef<S>,
  body: Static<S>,
  options: Omit<OutboxMessage, 'exchange' | 'routingKey' | 'body' | 'type'> = {},
): Promise<string> {
  const [id] = await enqueue(tx, {
    ...options,
    exchange: def.exchange.name,
    routingKey: routingKeyOf(def, body),
    type: def.type,
    body,
  })
  return id as string
}
