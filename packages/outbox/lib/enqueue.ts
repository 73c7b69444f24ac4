import { createHash, randomUUID } from 'node:crypto'
import { jsonText, type Queryable } from '@platform/db'
import { currentCorrelationId } from '@platform/logging'
import { type MessageDef, routingKeyOf } from '@platform/messaging'
import type { Static, TSchema } from 'typebox'

export const BUCKETS = 16

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
}

/** The JSON text of an outbox body, as the relay will publish it (jsonText: the server parses it as json, once). */
function bodyParameter(tx: Queryable, m: OutboxMessage) {
  const text = m.bodyJson ?? (JSON.stringify(m.body) as string | undefined)
  return text === undefined ? tx.json(m.body as never) : jsonText(tx, text)
}

/** The bucket of an ordering key: every message of one key goes to the same bucket, so one relay at a time sends it. */
export function bucketOf(key: string): number {
  return createHash('md5').update(key).digest().readUInt16BE(0) % BUCKETS
}

/**
 * The bucket of a message with no ordering key: any will do, so no hash is computed (an md5 per message showed in
 * ingest's profile). Spreads such messages evenly, like hashing their random ids did.
 */
export function anyBucket(): number {
  return Math.floor(Math.random() * BUCKETS)
}

/**
 * Writes messages into the outbox inside the caller's transaction: they are published if and only if the
 * transaction commits (the transactional outbox, https://microservices.io/patterns/data/transactional-outbox.html).
 * Returns the message ids.
 */
export async function enqueue(tx: Queryable, messages: OutboxMessage | OutboxMessage[]): Promise<string[]> {
  const list = Array.isArray(messages) ? messages : [messages]
  if (list.length === 0) return []
  const correlationId = currentCorrelationId() ?? null
  const rows = list.map((m) => {
    const messageId = m.messageId ?? randomUUID()
    return {
      message_id: messageId,
      exchange: m.exchange,
      routing_key: m.routingKey,
      type: m.type ?? null,
      body: bodyParameter(tx, m),
      headers: tx.json((m.headers ?? {}) as never),
      correlation_id: m.correlationId ?? correlationId,
      ordering_key: m.orderingKey ?? null,
      bucket: m.orderingKey === undefined ? anyBucket() : bucketOf(m.orderingKey),
    }
  })
  await tx`insert into outbox ${tx(rows)}`
  return rows.map((r) => r.message_id)
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
