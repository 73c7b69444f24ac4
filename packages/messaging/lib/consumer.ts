import type { Logger } from '@platform/logging'
import { correlationIdFrom, runWithContext } from '@platform/logging'
import {
  counter,
  createProgressMonitor,
  gauge,
  histogram,
  type ProgressMonitor,
  type Registry,
} from '@platform/metrics'
import {
  ATTR,
  type Context,
  contextWith,
  endSpan,
  failSpan,
  ROOT_CONTEXT,
  type Span,
  tracingEnabled,
  withSpan,
} from '@platform/tracing'
import type { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from 'amqplib'
import type { Static, TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Broker } from './connection.js'
import { deadLetterHeaders, deliveryHeaders, originOf, publishConfirmed, retryHeaders } from './dead-letter.js'
import { HandlerTimeoutError, settledWithin, withTimeout } from './deadline.js'
import {
  type ConsumerDef,
  type EnvelopeDef,
  type MessageDef,
  type MessageEnvelope,
  MessageEnvelopeSchema,
  routingKeyOf,
} from './definitions.js'
import { PermanentError, RetryableError } from './errors.js'
import { errorText, H, numberHeader } from './headers.js'
import { consumerTopology, declareConsumerTopology, retryDelayFor, retryQueueName } from './topology.js'
import {
  type DeliveryTrace,
  deliveryTrace,
  messageContext,
  startProcessSpan,
  startPublishSpan,
  withTraceHeaders,
} from './tracing.js'

export interface IncomingMessage<T = unknown> {
  body: T
  messageId: string
  type: string | undefined
  correlationId: string
  /** Where the message was first published, also after trips through retry queues or the DLQ. */
  exchange: string
  routingKey: string
  /** This attempt, 1-based. */
  attempt: number
  /** True when the broker delivered it before (a consumer died holding it): the handler must be idempotent. */
  redelivered: boolean
  headers: Record<string, unknown>
}

export type Outcome =
  | { action: 'ack' }
  | { action: 'retry'; error: unknown; retryAfterMs?: number }
  | { action: 'dead'; error: unknown }

// biome-ignore lint/suspicious/noConfusingVoidType: lets plain `async () => {}` handlers mean "ack".
export type Handler<T> = (message: IncomingMessage<T>) => Promise<Outcome | undefined | void>

export interface StartConsumerOptions<T> {
  def: ConsumerDef
  handler: Handler<T>
  logger: Logger
  /**
   * Validates the parsed body; a message that breaks it goes to the DLQ at once (retrying cannot fix it). By default
   * the schema of def.message; give it only for a consumer whose definition names no message.
   */
  schema?: TSchema
  registry?: Registry
  /** Deliveries handled at once; also how many messages of envelopes are handled at once, across all envelopes. */
  prefetch?: number
  /**
   * Deliveries of this envelope type are split: each message in it is handled, retried and dead-lettered on its own
   * (see handleEnvelope). Deliveries of any other type are single messages. By default def.envelope.
   */
  envelope?: EnvelopeDef
  /** Readiness fails when deliveries have been in hand this long and none settled (default 60 s). */
  stallAfterMs?: number
  /** How long stop() waits for the deliveries in hand (default 5 s); the rest are redelivered. */
  stopTimeoutMs?: number
}

/** One message on its way through the handler and settle: a delivery, or one message of an envelope. */
interface Unit {
  messageId: string
  correlationId: string
  exchange: string
  routingKey: string
  attempt: number
  headers: Record<string, unknown>
  replayed: boolean
  /** Carried over to a retry or DLQ copy. */
  properties: MessageProperties
  log: Logger
  /** Tracing on: the trace context the message carries (its parent), and for an envelope the delivery's contexts. */
  trace?: Context
  delivery?: DeliveryTrace
}

export interface Consumer {
  /** Resolves once the topology is declared and the consumer is registered. */
  ready(): Promise<void>
  /** Stops taking messages, waits for the ones in flight, closes the channel. */
  stop(): Promise<void>
  inFlight(): number
  /** For /health/ready: stalled when deliveries are in hand and none has settled for `stallAfterMs`. */
  progress: ProgressMonitor
}

/** Outcome helpers for handlers that prefer returning to throwing. */
export const ack = (): Outcome => ({ action: 'ack' })
export const retry = (error: unknown, retryAfterMs?: number): Outcome =>
  retryAfterMs === undefined ? { action: 'retry', error } : { action: 'retry', error, retryAfterMs }
export const deadLetter = (error: unknown): Outcome => ({ action: 'dead', error })

function outcomeOf(error: unknown): Outcome {
  if (error instanceof PermanentError) return deadLetter(error)
  if (error instanceof RetryableError) return retry(error, error.retryAfterMs)
  return retry(error)
}

/**
 * A handler that has not finished by then is retried (its delivery goes to a retry tier): the deadline a handler
 * waiting on an unreachable database needs, since no server-side timeout reaches it. Handlers are idempotent
 * (inbox), so one that finishes late as well does no harm.
 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 60_000

/** The options of a consumer of a catalog message: the handler's type is the message's (no `schema` to repeat). */
export type StartCatalogConsumerOptions<S extends TSchema> = Omit<StartConsumerOptions<Static<S>>, 'def' | 'schema'> & {
  def: ConsumerDef<S> & { message: MessageDef<S> }
}

/**
 * Consumes the work queue of `def`. Each delivery runs the handler, then:
 *   ack   -> ack;
 *   retry -> publish to the retry queue of this attempt's delay (confirmed), then ack;
 *   dead  -> publish to the DLQ with headers that say why (confirmed), then ack.
 * A delivery of the `envelope` type runs the handler once per message in it, and settles each message on its own.
 * A crash anywhere before the ack leaves the message unacked, and the broker delivers it again: at-least-once,
 * which is why handlers record what they did in the inbox (packages/outbox) and return early on a repeat.
 *
 * This overload: a consumer of the catalog message its definition names, bodies validated against it, the handler
 * typed by it.
 */
export function startConsumer<S extends TSchema>(broker: Broker, options: StartCatalogConsumerOptions<S>): Consumer
/** A consumer of a definition without a message (tests, ad-hoc queues): `schema` validates, T is the caller's. */
export function startConsumer<T>(broker: Broker, options: StartConsumerOptions<T>): Consumer
export function startConsumer<T>(broker: Broker, options: StartConsumerOptions<T>): Consumer {
  const { def, logger } = options
  const topology = consumerTopology(def)
  const schema = options.schema ?? def.message?.schema
  const check = schema ? Compile(schema) : undefined
  const envelopeDef = options.envelope ?? def.envelope
  const checkEnvelope = Compile(MessageEnvelopeSchema)
  const prefetch = options.prefetch ?? def.prefetch ?? 20
  // Messages of envelopes, across all envelopes in flight, are handled at most `prefetch` at once: the concurrency
  // the consumer has with single messages (the broker's prefetch counts deliveries, and an envelope is one).
  const envelopeSlots = createLimiter(prefetch)
  const inFlight = new Set<Promise<void>>()
  const progress = createProgressMonitor(`consumer of ${def.queue}`, options.stallAfterMs ?? 60_000)
  let stopping = false
  let current: { ch: ConfirmChannel; consumerTag: string } | undefined

  const metrics = options.registry && {
    messages: counter(options.registry, 'consumer_messages_total', 'Messages handled, by queue and outcome', [
      'queue',
      'outcome',
    ]),
    duration: histogram(options.registry, 'consumer_handler_duration_seconds', 'Handler duration', ['queue']),
    inFlight: gauge(options.registry, 'consumer_in_flight', 'Messages being handled', ['queue']),
  }
  // Every outcome's series exists from the start at 0: a counter that first appears at 1 shows no increase(), so
  // the first dead letter would not fire an alert (https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics).
  for (const outcome of ['ack', 'retry', 'dead'] satisfies Outcome['action'][]) {
    metrics?.messages.inc({ queue: def.queue, outcome }, 0)
  }
  metrics?.inFlight.set({ queue: def.queue }, 0)

  /** Runs the handler on one message (parsed and checked here) and says what to do with it. */
  async function run(unit: Unit, parsed: { body: unknown } | undefined, redelivered: boolean): Promise<Outcome> {
    const started = process.hrtime.bigint()
    const outcome = await runWithContext({ correlationId: unit.correlationId }, async (): Promise<Outcome> => {
      if (!parsed) return deadLetter(new PermanentError('message body is not valid JSON'))
      if (check && !check.Check(parsed.body)) {
        const [first] = check.Errors(parsed.body)
        return deadLetter(
          new PermanentError(`message body breaks its schema: ${first?.instancePath || '/'} ${first?.message}`),
        )
      }
      if (!unit.messageId) {
        return deadLetter(new PermanentError('message has no messageId; consumers deduplicate by it'))
      }
      const message: IncomingMessage<T> = {
        body: parsed.body as T,
        messageId: unit.messageId,
        type: unit.properties.type,
        correlationId: unit.correlationId,
        exchange: unit.exchange,
        routingKey: unit.routingKey,
        attempt: unit.attempt,
        redelivered,
        headers: unit.headers,
      }
      try {
        return (
          (await withTimeout(
            options.handler(message),
            def.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS,
            'handler',
          )) ?? ack()
        )
      } catch (error) {
        return outcomeOf(error)
      }
    })
    metrics?.duration.observe({ queue: def.queue }, Number(process.hrtime.bigint() - started) / 1e9)
    return outcome
  }

  async function handle(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    const unit = unitOf(msg)
    if (unit.replayed)
      unit.log.info({ replays: unit.headers[H.replays] }, 'message replayed from the dead-letter queue')
    const parsed = parseJson(msg.content)
    const envelope = envelopeDef && msg.properties.type === envelopeDef.type ? envelopeDef : undefined
    let settled: Promise<boolean>
    if (envelope && parsed && checkEnvelope.Check(parsed.body)) {
      settled = handleEnvelope(ch, msg, unit, envelope, parsed.body as MessageEnvelope)
    } else {
      // A single message, or a broken envelope (dead-lettered whole: no message of it can be told apart).
      settled = traced(unit, async (span) => {
        if (!envelope) return settle(ch, unit, msg.content, await run(unit, parsed, msg.fields.redelivered), span)
        // Its copy keeps the contexts of the messages it carries (x-traceparents): no single one to put instead.
        const error = new PermanentError(`body is not a ${envelope.type} envelope`)
        if (span) failSpan(span, error)
        return settle(ch, unit, msg.content, deadLetter(error))
      })
    }
    if (!(await settled)) return
    try {
      ch.ack(msg)
    } catch (error) {
      // The channel went away before the ack: the broker redelivers the message to the next channel.
      unit.log.warn({ err: errorText(error) }, 'could not ack message; it will be redelivered')
    }
  }

  /**
   * Each message of the envelope is handled, and retried or dead-lettered, on its own: its retry or DLQ copy is the
   * message alone, with its own id, type and correlation id, so it comes back (or is moved back by an operator) as a
   * single message. The envelope is acked once every message has been settled; if one cannot be (the channel went
   * away), the broker delivers the whole envelope again and the handler's inbox skips what was already done.
   */
  async function handleEnvelope(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    envelopeUnit: Unit,
    envelope: EnvelopeDef,
    body: MessageEnvelope,
  ): Promise<boolean> {
    const results = await Promise.all(
      body.messages.map((item, index) =>
        envelopeSlots(async () => {
          const unit: Unit = {
            ...envelopeUnit,
            messageId: item.id,
            correlationId: correlationIdFrom(item.correlationId ?? envelopeUnit.correlationId),
            routingKey: itemRoutingKey(envelope, item.body, envelopeUnit.routingKey),
            properties: {
              ...envelopeUnit.properties,
              messageId: item.id,
              type: envelope.of.type,
              correlationId: item.correlationId ?? envelopeUnit.properties.correlationId,
            },
            log: logOf(item.id, envelope.of.type, envelopeUnit.attempt),
          }
          // Each message continues its own trace: its entry of the envelope's x-traceparents.
          if (envelopeUnit.delivery) unit.trace = messageContext(envelopeUnit.delivery, index)
          return traced(unit, async (span) => {
            const outcome = await run(unit, { body: item.body }, msg.fields.redelivered)
            return settle(ch, unit, Buffer.from(JSON.stringify(item.body)), outcome, span)
          })
        }),
      ),
    )
    return results.every(Boolean)
  }

  /**
   * ack: nothing to publish. retry: a copy to the retry queue of this attempt's delay (confirmed). dead: a copy to the
   * DLQ with headers that say why (confirmed). True when the delivery may be acked; false when the copy could not be
   * published (the channel went away: the broker redelivers the message to the next channel).
   */
  async function settle(
    ch: ConfirmChannel,
    unit: Unit,
    content: Buffer,
    outcome: Outcome,
    span?: Span,
  ): Promise<boolean> {
    // Per message, not per delivery: an envelope of 128 events settles its delivery only once all of them did. A
    // handler that ran out of time made none (its retry would otherwise hide a hang from readiness).
    if (!('error' in outcome && outcome.error instanceof HandlerTimeoutError)) progress.progressed()
    const properties: Options.Publish = { ...unit.properties, persistent: true }
    const origin = { exchange: unit.exchange, routingKey: unit.routingKey }
    let final = outcome
    if (final.action === 'retry' && unit.attempt >= def.retry.maxAttempts) {
      final = deadLetter(new Error(`gave up after ${unit.attempt} attempts: ${errorText(final.error)}`))
    }
    if (span) {
      span.setAttribute(ATTR.outcome, final.action)
      if (final.action !== 'ack') failSpan(span, final.error)
    }
    try {
      if (final.action === 'retry') {
        const delayMs = retryDelayFor(def.retry.delaysMs, unit.attempt, final.retryAfterMs)
        const headers = retryHeaders({ headers: unit.headers, origin, error: final.error, attempt: unit.attempt })
        await publishCopy(ch, retryQueueName(def.queue, delayMs), content, { ...properties, headers }, span)
        unit.log.warn({ err: errorText(final.error), delayMs }, 'handler failed; retrying later')
      } else if (final.action === 'dead') {
        const failure = { headers: unit.headers, origin, error: final.error, attempt: unit.attempt }
        const headers = deadLetterHeaders(failure, def.queue)
        await publishCopy(ch, topology.dlq, content, { ...properties, headers }, span)
        unit.log.error({ err: errorText(final.error) }, 'message dead-lettered')
      }
    } catch (error) {
      unit.log.warn({ err: errorText(error) }, 'could not settle message; it will be redelivered')
      return false
    }
    metrics?.messages.inc({ queue: def.queue, outcome: final.action })
    return true
  }

  /**
   * A retry or DLQ copy. Tracing on: published in a span of its own, a child of the attempt's, whose context the copy
   * carries, so the next attempt (or the replay from the DLQ) continues the trace under the attempt that failed.
   */
  async function publishCopy(
    ch: ConfirmChannel,
    queue: string,
    content: Buffer,
    options: Options.Publish & { headers: Record<string, unknown> },
    span: Span | undefined,
  ): Promise<void> {
    if (!span) return publishConfirmed(ch, queue, content, options)
    const copy = startPublishSpan(
      queue,
      { messageId: String(options.messageId ?? ''), type: options.type ?? '' },
      contextWith(span),
    )
    try {
      await publishConfirmed(ch, queue, content, { ...options, headers: withTraceHeaders(options.headers, copy) })
      copy.end()
    } catch (error) {
      endSpan(copy, error)
      throw error
    }
  }

  /**
   * Tracing on: the message's handling and settling inside a CONSUMER span, a child of the context the message carries
   * (docs/operations.md "Tracing": one trace from the HTTP request to the last consumer). Off: `work` alone.
   */
  async function traced(unit: Unit, work: (span: Span | undefined) => Promise<boolean>): Promise<boolean> {
    if (!tracingEnabled()) return work(undefined)
    const span = startProcessSpan(
      def.queue,
      {
        messageId: unit.messageId,
        type: unit.properties.type,
        correlationId: unit.correlationId,
        attempt: unit.attempt,
        replays: numberHeader(unit.headers[H.replays]),
      },
      unit.trace,
    )
    try {
      return await withSpan(span, () => work(span), ROOT_CONTEXT)
    } finally {
      span.end()
    }
  }

  /** What a delivery says about itself: ids, where it was first published, which attempt this is. */
  function unitOf(msg: ConsumeMessage): Unit {
    // A message an operator moved back from the DLQ starts afresh: full retries, attempt 1.
    const { headers, replayed } = deliveryHeaders(msg.properties.headers ?? {})
    const attempt = numberHeader(headers[H.attempt]) + 1
    const messageId = String(msg.properties.messageId ?? '')
    const delivery = tracingEnabled() ? deliveryTrace(headers) : undefined
    return {
      messageId,
      correlationId: correlationIdFrom(msg.properties.correlationId),
      ...originOf(headers, msg.fields),
      attempt,
      headers,
      replayed,
      properties: msg.properties,
      log: logOf(messageId, msg.properties.type, attempt),
      ...(delivery ? { delivery, ...(delivery.single ? { trace: delivery.single } : {}) } : {}),
    }
  }

  const logOf = (messageId: string, type: string | undefined, attempt: number) =>
    logger.child({ queue: def.queue, messageId, type, attempt })

  const channel = broker.createChannel({
    name: `consumer:${def.queue}`,
    confirm: true,
    setup: async (ch: ConfirmChannel) => {
      await declareConsumerTopology(ch, def, { connection: broker.connection, logger })
      if (stopping) return
      await ch.prefetch(prefetch)
      const { consumerTag } = await ch.consume(def.queue, (msg) => {
        if (!msg) {
          logger.warn({ queue: def.queue }, 'consumer cancelled by the broker')
          return
        }
        const task = handle(ch, msg).finally(() => {
          inFlight.delete(task)
          progress.progressed()
          progress.setPending(inFlight.size)
          metrics?.inFlight.set({ queue: def.queue }, inFlight.size)
        })
        inFlight.add(task)
        progress.setPending(inFlight.size)
        metrics?.inFlight.set({ queue: def.queue }, inFlight.size)
      })
      current = { ch, consumerTag }
    },
  })

  return {
    ready: () => channel.waitForConnect(),
    inFlight: () => inFlight.size,
    progress,
    async stop() {
      if (stopping) return
      stopping = true
      if (current) await current.ch.cancel(current.consumerTag).catch(() => {})
      // Bounded: what is still in hand after this is not acked, and the broker delivers it again.
      await settledWithin([...inFlight], options.stopTimeoutMs ?? 5000)
      await settledWithin([channel.close()], 2000)
    },
  }
}

function parseJson(content: Buffer): { body: unknown } | undefined {
  try {
    return { body: JSON.parse(content.toString('utf8')) }
  } catch {
    return undefined
  }
}

/** The routing key the message would have had alone; the envelope's when its body cannot say (it fails its schema). */
function itemRoutingKey(envelope: EnvelopeDef, body: unknown, fallback: string): string {
  try {
    return routingKeyOf(envelope.of, body as never) || fallback
  } catch {
    return fallback
  }
}

/** Runs tasks at most `limit` at once, in the order they came; a task that ends hands its slot to the next. */
function createLimiter(limit: number) {
  let active = 0
  const waiting: (() => void)[] = []
  return async function run<R>(task: () => Promise<R>): Promise<R> {
    if (active < limit) active++
    else await new Promise<void>((resolve) => waiting.push(resolve))
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next) next()
      else active--
    }
  }
}
