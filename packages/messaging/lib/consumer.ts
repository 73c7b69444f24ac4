import type { Logger } from '@platform/logging'
import { correlationIdFrom, runWithContext } from '@platform/logging'
import { counter, gauge, histogram, type Registry } from '@platform/metrics'
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import type { Broker } from './connection.js'
import type { ConsumerDef } from './definitions.js'
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
  prefetch?: number
}

export interface Consumer {
  /** Resolves once the topology is declared and the consumer is registered. */
  ready(): Promise<void>
  /** Stops taking messages, waits for the ones in flight, closes the channel. */
  stop(): Promise<void>
  inFlight(): number
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
 * A crash anywhere before the ack leaves the message unacked, and the broker delivers it again: at-least-once,
 * which is why handlers record what they did in the inbox (packages/outbox) and return early on a repeat.
 */
export function startConsumer<T>(broker: Broker, options: StartConsumerOptions<T>): Consumer {
  const { def, logger } = options
  const topology = consumerTopology(def)
  const check = options.schema ? Compile(options.schema) : undefined
  const prefetch = options.prefetch ?? def.prefetch ?? 20
  const inFlight = new Set<Promise<void>>()
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

  async function handle(ch: ConfirmChannel, msg: ConsumeMessage): Promise<void> {
    const received = msg.properties.headers ?? {}
    // A message an operator moved back from the DLQ starts afresh: full retries, attempt 1.
    const replayed = H.deadLetteredAt in received || hasBrokerDeadLetter(received)
    const headers: Record<string, unknown> = { ...received }
    if (replayed) {
      for (const name of FAILURE_HEADERS) delete headers[name]
      headers[H.replays] = numberHeader(received[H.replays]) + 1
    }
    const attempt = numberHeader(headers[H.attempt]) + 1
    const exchange = String(headers[H.originalExchange] ?? msg.fields.exchange)
    const routingKey = String(headers[H.originalRoutingKey] ?? msg.fields.routingKey)
    const correlationId = correlationIdFrom(msg.properties.correlationId)
    const messageId = String(msg.properties.messageId ?? '')
    const log = logger.child({ queue: def.queue, messageId, type: msg.properties.type, attempt })
    if (replayed) log.info({ replays: headers[H.replays] }, 'message replayed from the dead-letter queue')

    const started = process.hrtime.bigint()
    const outcome = await runWithContext({ correlationId }, async (): Promise<Outcome> => {
      let body: unknown
      try {
        body = JSON.parse(msg.content.toString('utf8'))
      } catch {
        return deadLetter(new PermanentError('message body is not valid JSON'))
      }
      if (check && !check.Check(body)) {
        const [first] = check.Errors(body)
        return deadLetter(
          new PermanentError(`message body breaks its schema: ${first?.instancePath || '/'} ${first?.message}`),
        )
      }
      if (!messageId) return deadLetter(new PermanentError('message has no messageId; consumers deduplicate by it'))
      const message: IncomingMessage<T> = {
        body: body as T,
        messageId,
        type: msg.properties.type,
        correlationId,
        exchange,
        routingKey,
        attempt,
        redelivered: msg.fields.redelivered,
        headers,
      }
      try {
        return (await withTimeout(options.handler(message), def.handlerTimeoutMs)) ?? ack()
      } catch (error) {
        return outcomeOf(error)
      }
    })
    metrics?.duration.observe({ queue: def.queue }, Number(process.hrtime.bigint() - started) / 1e9)

    try {
      await settle(ch, msg, outcome, { headers, attempt, exchange, routingKey, log })
    } catch (error) {
      // The channel went away before we could settle: the broker redelivers the message to the next channel.
      log.warn({ err: errorText(error) }, 'could not settle message; it will be redelivered')
    }
  }

  async function settle(
    ch: ConfirmChannel,
    msg: ConsumeMessage,
    outcome: Outcome,
    ctx: { headers: Record<string, unknown>; attempt: number; exchange: string; routingKey: string; log: Logger },
  ): Promise<void> {
    const now = new Date().toISOString()
    const properties: Options.Publish = { ...msg.properties, persistent: true }
    const where = { [H.originalExchange]: ctx.exchange, [H.originalRoutingKey]: ctx.routingKey }
    let final = outcome
    if (final.action === 'retry' && ctx.attempt >= def.retry.maxAttempts) {
      final = deadLetter(new Error(`gave up after ${ctx.attempt} attempts: ${errorText(final.error)}`))
    }
    if (final.action === 'retry') {
      const delayMs = retryDelayFor(def.retry.delaysMs, ctx.attempt, final.retryAfterMs)
      const headers = {
        ...ctx.headers,
        ...where,
        [H.attempt]: ctx.attempt,
        [H.firstFailureAt]: ctx.headers[H.firstFailureAt] ?? now,
        [H.lastFailureAt]: now,
        [H.lastError]: errorText(final.error),
      }
      await publishConfirmed(ch, retryQueueName(def.queue, delayMs), msg.content, { ...properties, headers })
      ctx.log.warn({ err: errorText(final.error), delayMs }, 'handler failed; retrying later')
    } else if (final.action === 'dead') {
      const { [H.attempt]: _, [H.lastError]: __, ...rest } = ctx.headers
      const headers = {
        ...rest,
        ...where,
        [H.error]: errorText(final.error),
        [H.attempts]: ctx.attempt,
        [H.firstFailureAt]: ctx.headers[H.firstFailureAt] ?? now,
        [H.lastFailureAt]: now,
        [H.deadLetteredBy]: def.queue,
        [H.deadLetteredAt]: now,
      }
      await publishConfirmed(ch, topology.dlq, msg.content, { ...properties, headers })
      ctx.log.error({ err: errorText(final.error) }, 'message dead-lettered')
    }
    ch.ack(msg)
    metrics?.messages.inc({ queue: def.queue, outcome: final.action })
  }

  const channel = broker.createChannel({
    name: `consumer:${def.queue}`,
    confirm: true,
    setup: async (ch: ConfirmChannel) => {
      await declareConsumerTopology(ch, def)
      if (stopping) return
      await ch.prefetch(prefetch)
      const { consumerTag } = await ch.consume(def.queue, (msg) => {
        if (!msg) {
          logger.warn({ queue: def.queue }, 'consumer cancelled by the broker')
          return
        }
        const task = handle(ch, msg).finally(() => {
          inFlight.delete(task)
          metrics?.inFlight.set({ queue: def.queue }, inFlight.size)
        })
        inFlight.add(task)
        metrics?.inFlight.set({ queue: def.queue }, inFlight.size)
      })
      current = { ch, consumerTag }
    },
  })

  return {
    ready: () => channel.waitForConnect(),
    inFlight: () => inFlight.size,
    async stop() {
      if (stopping) return
      stopping = true
      if (current) await current.ch.cancel(current.consumerTag).catch(() => {})
      await Promise.allSettled([...inFlight])
      await channel.close()
    },
  }
}

/** x-death entries from the broker's own dead-lettering (delivery limit, reject): such a message was in the DLQ. */
function hasBrokerDeadLetter(headers: Record<string, unknown>): boolean {
  const deaths = headers['x-death']
  return Array.isArray(deaths) && deaths.some((d) => d && (d.reason === 'delivery_limit' || d.reason === 'rejected'))
}

async function withTimeout<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (!ms) return work
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RetryableError(`handler did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
