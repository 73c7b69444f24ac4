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
import type { ConfirmChannel, ConsumeMessage, MessageProperties, Options } from 'amqplib'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Broker } from './connection.js'
import { settledWithin, withTimeout } from './deadline.js'
import { type BatchDef, type ConsumerDef, type MessageBatch, MessageBatchSchema, routingKeyOf } from './definitions.js'
import { PermanentError, RetryableError } from './errors.js'
import { errorText, FAILURE_HEADERS, H, numberHeader } from './headers.js'
import { consumerTopology, declareConsumerTopology, retryDelayFor, retryQueueName } from './topology.js'

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
  /** Validates the parsed body; a message that breaks it goes to the DLQ at once (retrying cannot fix it). */
  schema?: TSchema
  registry?: Registry
  /** Deliveries handled at once; also how many messages of batches are handled at once, across all batches. */
  prefetch?: number
  /**
   * Deliveries of this batch type are split: each message in it is handled, retried and dead-lettered on its own
   * (see handleBatch). Deliveries of any other type are single messages.
   */
  batch?: BatchDef
  /** Readiness fails when deliveries have been in hand this long and none settled (default 60 s). */
  stallAfterMs?: number
  /** How long stop() waits for the deliveries in hand (default 5 s); the rest are redelivered. */
  stopTimeoutMs?: number
}

/** One message on its way through the handler and settle: a delivery, or one message of a batch delivery. */
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

function publishConfirmed(
  ch: ConfirmChannel,
  routingKey: string,
  content: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish('', routingKey, content, options, (err) => (err ? reject(err) : resolve()))
  })
}

/**
 * Consumes the work queue of `def`. Each delivery runs the handler, then:
 *   ack   -> ack;
 *   retry -> publish to the retry queue of this attempt's delay (confirmed), then ack;
 *   dead  -> publish to the DLQ with headers that say why (confirmed), then ack.
 * A delivery of the `batch` type runs the handler once per message in it, and settles each message on its own.
 * A crash anywhere before the ack leaves the message unacked, and the broker delivers it again: at-least-once,
 * which is why handlers record what they did in the inbox (packages/outbox) and return early on a repeat.
 */
/**
 * A handler that has not finished by then is retried (its delivery goes to a retry tier): the deadline a handler
 * waiting on an unreachable database needs, since no server-side timeout reaches it. Handlers are idempotent
 * (inbox), so one that finishes late as well does no harm.
 */
export const DEFAULT_HANDLER_TIMEOUT_MS = 60_000

export function startConsumer<T>(broker: Broker, options: StartConsumerOptions<T>): Consumer {
  const { def, logger } = options
  const topology = consumerTopology(def)
  const check = options.schema ? Compile(options.schema) : undefined
  const checkBatch = Compile(MessageBatchSchema)
  const prefetch = options.prefetch ?? def.prefetch ?? 20
  // Messages of batches, across all batches in flight, are handled at most `prefetch` at once: the concurrency the
  // consumer has with single messages (the broker's prefetch counts deliveries, and a batch is one).
  const batchSlots = createLimiter(prefetch)
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
    const batch = options.batch && msg.properties.type === options.batch.type ? options.batch : undefined
    let settled: Promise<boolean>
    if (batch && parsed && checkBatch.Check(parsed.body)) {
      settled = handleBatch(ch, msg, unit, batch, parsed.body as MessageBatch)
    } else {
      // A single message, or a batch whose envelope is broken (dead-lettered whole: no message of it can be told apart).
      const outcome = batch
        ? deadLetter(new PermanentError(`batch body is not a ${batch.type} envelope`))
        : await run(unit, parsed, msg.fields.redelivered)
      settled = settle(ch, unit, msg.content, outcome)
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
   * Each message of the batch is handled, and retried or dead-lettered, on its own: its retry or DLQ copy is the
   * message alone, with its own id, type and correlation id, so it comes back (or is moved back by an operator) as a
   * single message. The batch is acked once every message has been settled; if one cannot be (the channel went
   * away), the broker delivers the whole batch again and the handler's inbox skips what was already done.
   */
  async function handleBatch(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    batchUnit: Unit,
    batch: BatchDef,
    body: MessageBatch,
  ): Promise<boolean> {
    const results = await Promise.all(
      body.messages.map((item) =>
        batchSlots(async () => {
          const unit: Unit = {
            ...batchUnit,
            messageId: item.id,
            correlationId: correlationIdFrom(item.correlationId ?? batchUnit.correlationId),
            routingKey: itemRoutingKey(batch, item.body, batchUnit.routingKey),
            properties: {
              ...batchUnit.properties,
              messageId: item.id,
              type: batch.of.type,
              correlationId: item.correlationId ?? batchUnit.properties.correlationId,
            },
            log: logOf(item.id, batch.of.type, batchUnit.attempt),
          }
          const outcome = await run(unit, { body: item.body }, msg.fields.redelivered)
          return settle(ch, unit, Buffer.from(JSON.stringify(item.body)), outcome)
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
  async function settle(ch: ConfirmChannel, unit: Unit, content: Buffer, outcome: Outcome): Promise<boolean> {
    // Per message, not per delivery: an envelope of 128 events settles its delivery only once all of them did.
    progress.progressed()
    const now = new Date().toISOString()
    const properties: Options.Publish = { ...unit.properties, persistent: true }
    const where = { [H.originalExchange]: unit.exchange, [H.originalRoutingKey]: unit.routingKey }
    let final = outcome
    if (final.action === 'retry' && unit.attempt >= def.retry.maxAttempts) {
      final = deadLetter(new Error(`gave up after ${unit.attempt} attempts: ${errorText(final.error)}`))
    }
    try {
      if (final.action === 'retry') {
        const delayMs = retryDelayFor(def.retry.delaysMs, unit.attempt, final.retryAfterMs)
        const headers = {
          ...unit.headers,
          ...where,
          [H.attempt]: unit.attempt,
          [H.firstFailureAt]: unit.headers[H.firstFailureAt] ?? now,
          [H.lastFailureAt]: now,
          [H.lastError]: errorText(final.error),
        }
        await publishConfirmed(ch, retryQueueName(def.queue, delayMs), content, { ...properties, headers })
        unit.log.warn({ err: errorText(final.error), delayMs }, 'handler failed; retrying later')
      } else if (final.action === 'dead') {
        const { [H.attempt]: _, [H.lastError]: __, ...rest } = unit.headers
        const headers = {
          ...rest,
          ...where,
          [H.error]: errorText(final.error),
          [H.attempts]: unit.attempt,
          [H.firstFailureAt]: unit.headers[H.firstFailureAt] ?? now,
          [H.lastFailureAt]: now,
          [H.deadLetteredBy]: def.queue,
          [H.deadLetteredAt]: now,
        }
        await publishConfirmed(ch, topology.dlq, content, { ...properties, headers })
        unit.log.error({ err: errorText(final.error) }, 'message dead-lettered')
      }
    } catch (error) {
      unit.log.warn({ err: errorText(error) }, 'could not settle message; it will be redelivered')
      return false
    }
    metrics?.messages.inc({ queue: def.queue, outcome: final.action })
    return true
  }

  /** What a delivery says about itself: ids, where it was first published, which attempt this is. */
  function unitOf(msg: ConsumeMessage): Unit {
    const received = msg.properties.headers ?? {}
    // A message an operator moved back from the DLQ starts afresh: full retries, attempt 1.
    const replayed = H.deadLetteredAt in received || hasBrokerDeadLetter(received)
    const headers: Record<string, unknown> = { ...received }
    if (replayed) {
      for (const name of FAILURE_HEADERS) delete headers[name]
      headers[H.replays] = numberHeader(received[H.replays]) + 1
    }
    const attempt = numberHeader(headers[H.attempt]) + 1
    const messageId = String(msg.properties.messageId ?? '')
    return {
      messageId,
      correlationId: correlationIdFrom(msg.properties.correlationId),
      exchange: String(headers[H.originalExchange] ?? msg.fields.exchange),
      routingKey: String(headers[H.originalRoutingKey] ?? msg.fields.routingKey),
      attempt,
      headers,
      replayed,
      properties: msg.properties,
      log: logOf(messageId, msg.properties.type, attempt),
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

/** x-death entries from the broker's own dead-lettering (delivery limit, reject): such a message was in the DLQ. */
function hasBrokerDeadLetter(headers: Record<string, unknown>): boolean {
  const deaths = headers['x-death']
  return Array.isArray(deaths) && deaths.some((d) => d && (d.reason === 'delivery_limit' || d.reason === 'rejected'))
}

function parseJson(content: Buffer): { body: unknown } | undefined {
  try {
    return { body: JSON.parse(content.toString('utf8')) }
  } catch {
    return undefined
  }
}

/** The routing key the message would have had alone; the batch's when its body cannot say (it fails its schema). */
function itemRoutingKey(batch: BatchDef, body: unknown, fallback: string): string {
  try {
    return routingKeyOf(batch.of, body as never) || fallback
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
