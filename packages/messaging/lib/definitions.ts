import Type, { type Static, type TSchema } from 'typebox'
import { MessagingError } from './errors.js'

/**
 * The vocabulary of the typed catalog (packages/contracts): exchanges, messages and consumers are declared once,
 * as values, and every publisher and consumer takes them from there instead of repeating strings.
 */
export interface ExchangeDef {
  name: string
  type: 'topic'
}

export interface MessageDef<S extends TSchema = TSchema> {
  /** Stable, versioned name carried in the AMQP `type` property, e.g. "webhook.received.v1". */
  type: string
  exchange: ExchangeDef
  /** Routing key, or a function of the body for keys such as "webhook.payment.charge.succeeded". */
  routingKey: string | ((body: Static<S>) => string)
  schema: S
}

export interface RetryPolicy {
  /**
   * Delay tiers. The n-th failure waits delaysMs[n-1] (the last tier repeats). Each tier is its own queue with
   * `x-message-ttl`: a shared queue with per-message TTL would hold short delays behind long ones, because
   * RabbitMQ only expires messages at the head of a queue (https://www.rabbitmq.com/docs/ttl#per-message-ttl-caveats).
   */
  delaysMs: number[]
  /** Failures after which a message is dead-lettered, counting the first delivery. */
  maxAttempts: number
}

/**
 * A consumer of the catalog, bound to the message it takes: `message` gives startConsumer the schema every body is
 * validated against and the handler its type (Static of the schema), so a service names the consumer and gets typed,
 * validated messages; `envelope`, when the producer also sends them in envelopes of that message, has them split.
 * A consumer of several kinds (the log-shipper's bulk consumer, with its own decode) names no message.
 */
export interface ConsumerDef<S extends TSchema = TSchema> {
  /** Work queue name, by convention "<service>.<purpose>". Its retry and dead-letter queues derive from it. */
  queue: string
  /** The message its handler gets: validated against the schema (a body that breaks it goes to the DLQ at once). */
  message?: MessageDef<S>
  /** Envelopes of `message` that arrive on the queue too: split, each message handled on its own. */
  envelope?: EnvelopeDef<S>
  bindings: { exchange: ExchangeDef; routingKey: string }[]
  retry: RetryPolicy
  prefetch?: number
  /** A handler running longer than this counts as failed (and is retried); the process keeps running it. */
  handlerTimeoutMs?: number
  /**
   * Deliveries of one message (the broker counts redeliveries after consumer crashes) before the quorum queue
   * dead-letters it itself: a message that kills its consumer must not kill it forever.
   */
  deliveryLimit?: number
}

export const DEFAULT_RETRY: RetryPolicy = { delaysMs: [1_000, 5_000, 30_000, 120_000, 600_000], maxAttempts: 8 }

export function defineExchange(name: string): ExchangeDef {
  return { name, type: 'topic' }
}

export function defineMessage<S extends TSchema>(def: MessageDef<S>): MessageDef<S> {
  return def
}

/** Checks a consumer definition; its type stays as written, so a definition with a `message` keeps its schema. */
export function defineConsumer<D extends ConsumerDef>(def: D): D {
  if (def.retry.delaysMs.length === 0 || def.retry.delaysMs.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new MessagingError('MSG_INVALID_DEFINITION', `${def.queue}: retry delays must be positive integers`)
  }
  if (def.retry.maxAttempts < 1) {
    throw new MessagingError('MSG_INVALID_DEFINITION', `${def.queue}: maxAttempts must be at least 1`)
  }
  if (def.envelope && def.envelope.of !== def.message) {
    throw new MessagingError('MSG_INVALID_DEFINITION', `${def.queue}: its envelope must be of its message`)
  }
  return def
}

/** The routing key of a message (or an envelope, `EnvelopeDef`) with this body. */
export function routingKeyOf<B>(def: { routingKey: string | ((body: B) => string) }, body: B): string {
  return typeof def.routingKey === 'function' ? def.routingKey(body) : def.routingKey
}

/**
 * An envelope: many messages of one kind carried by ONE AMQP message. A producer that commits in groups (ingest's
 * group commit) writes one outbox row, and the relay and the broker handle one message, instead of one per message.
 * The envelope is transport only: a consumer started with `envelope` handles, retries and dead-letters each message
 * of it on its own, exactly as if it had arrived alone (retry queues and the DLQ only ever hold single messages,
 * docs/architecture.md). Not to be confused with startBulkConsumer (bulk-consumer.ts), the opposite direction: a
 * sink that groups many deliveries into one write.
 */
export interface EnvelopeDef<S extends TSchema = TSchema> {
  /**
   * The envelope's own AMQP `type`, e.g. "webhook.received.batch.v1". Types on the wire keep the names they were
   * published with (such as ".batch."), whatever the code calls them: messages of them wait in queues and DLQs.
   */
  type: string
  /** The messages it carries. */
  of: MessageDef<S>
  exchange: ExchangeDef
  routingKey: string | ((body: MessageEnvelope<Static<S>>) => string)
}

/** An envelope's body: each message with the id and correlation id it would have had alone. */
export interface MessageEnvelope<T = unknown> {
  messages: { id: string; correlationId: string | null; body: T }[]
}

/** The envelope only: each message's body is checked against its own schema, so one bad message fails alone. */
export const MessageEnvelopeSchema = Type.Object({
  messages: Type.Array(
    Type.Object({
      id: Type.String({ minLength: 1 }),
      correlationId: Type.Union([Type.String(), Type.Null()]),
      body: Type.Unknown(),
    }),
    { minItems: 1 },
  ),
})

export function defineEnvelope<S extends TSchema>(def: Omit<EnvelopeDef<S>, 'exchange'>): EnvelopeDef<S> {
  return { ...def, exchange: def.of.exchange }
}
