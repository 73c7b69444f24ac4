import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@platform/logging'
import { correlationIdFrom } from '@platform/logging'
import { counter, createProgressMonitor, gauge, type ProgressMonitor, type Registry } from '@platform/metrics'
import { ATTR, type Context, endSpan, ROOT_CONTEXT, type Span, tracingEnabled, withSpan } from '@platform/tracing'
import type { ConfirmChannel, ConsumeMessage } from 'amqplib'
import type { TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { type BulkPolicy, DEFAULT_BULK_POLICY, type FlushReason, flushDue, takeBulk } from './bulk-policy.js'
import type { Broker } from './connection.js'
import type { IncomingMessage } from './consumer.js'
import { deadLetterHeaders, deliveryHeaders, originOf, publishConfirmed } from './dead-letter.js'
import { HandlerTimeoutError, settledWithin, withTimeout } from './deadline.js'
import type { ConsumerDef } from './definitions.js'
import { MessagingError } from './errors.js'
import { errorText, H, numberHeader } from './headers.js'
import { declareConsumerTopology, dlqName } from './topology.js'
import { contextsOf, deliveryTrace, startProcessSpan } from './tracing.js'

/**
 * The bulk consumer: a consumer for sinks that want many messages per write (the log-shipper's ClickHouse inserts),
 * many deliveries in, one write out. The opposite of an envelope (defineEnvelope, definitions.ts: many messages in
 * ONE delivery, split by startConsumer). Its metrics are bulk_consumer_* (docs/operations.md#metrics); dashboards
 * and alerts read them (docs/eventlog.md). Unlike
 * startConsumer it does not settle each message when its handler returns: it collects deliveries into a batch,
 * hands the whole batch to the handler, and acks the batch's messages only after the handler resolved, so a
 * crash or a failed write leaves every message of the batch unacked and the broker delivers them again.
 *
 *   handler resolves          -> the messages it names as dead go to <queue>.dlq (confirmed), then all are acked;
 *   handler throws            -> nothing is acked; the same batch is retried in process with capped backoff;
 *   channel lost meanwhile    -> the batch is dropped (the broker requeued it), never acked on the new channel.
 *
 * The prefetch count bounds memory: the broker stops delivering when that many messages are unacked, so a sink
 * that is down holds at most `prefetch` messages in memory (https://www.rabbitmq.com/docs/consumer-prefetch).
 */
export interface BulkMessage<T = unknown> extends IncomingMessage<T> {
  /** What counts against maxBytes (sizeOf, by default the body's length). */
  size: number
  /** What counts against maxRows (rowsOf, by default 1). */
  rows: number
  /** The AMQP timestamp (the outbox relay sets it to the row's creation time), in ms; else the delivery time. */
  publishedAt: number
}

export interface BulkOutcome<T> {
  /** Messages the sink rejected for good: dead-lettered with the error as reason; the rest of the batch is acked. */
  dead?: { message: BulkMessage<T>; error: unknown }[]
}

// biome-ignore lint/suspicious/noConfusingVoidType: lets plain `async () => {}` handlers mean "ack all".
export type BulkHandler<T> = (batch: BulkMessage<T>[]) => Promise<BulkOutcome<T> | undefined | void>

/**
 * Turns a delivery's bytes into the body the handler gets. Throwing dead-letters the message at once with the error
 * as reason; it never reaches the handler.
 */
export type BulkDecode<T> = (
  content: Buffer,
  properties: { type: string | undefined; headers: Record<string, unknown> },
) => T

/** The default decode: JSON.parse, then the schema when there is one. */
export function jsonDecode<T>(schema?: TSchema): (content: Buffer) => T {
  const check = schema ? Compile(schema) : undefined
  return (content) => {
    let body: T
    try {
      body = JSON.parse(content.toString('utf8')) as T
    } catch {
      throw new Error('message body is not valid JSON')
    }
    if (check && !check.Check(body)) {
      const [first] = check.Errors(body)
      throw new Error(`message body breaks its schema: ${first?.instancePath || '/'} ${first?.message}`)
    }
    return body
  }
}

export interface StartBulkConsumerOptions<T> {
  def: ConsumerDef
  handler: BulkHandler<T>
  logger: Logger
  /** Validates each body; a message that breaks it is dead-lettered at once and never reaches the handler. */
  schema?: TSchema
  /**
   * Replaces JSON.parse + schema (give one or the other): for a consumer that takes some bodies as they are, without
   * parsing them (the log-shipper's rows messages, handed to ClickHouse as bytes). By default jsonDecode(schema).
   */
  decode?: BulkDecode<T>
  registry?: Registry
  policy?: Partial<BulkPolicy>
  /** Defaults to def.prefetch, else twice maxRows (the next batch fills while one is being written). */
  prefetch?: number
  sizeOf?: (body: T, content: Buffer) => number
  /** Rows a message stands for (an envelope of n events: n); by default 1. */
  rowsOf?: (body: T) => number
  /** Delay between attempts of a failing batch: initialMs doubling up to maxMs, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number }
  /** How long stop() keeps trying to write what is buffered before leaving it to the broker to redeliver. */
  stopTimeoutMs?: number
  /** A handler call past this deadline counts as a failed attempt (retried); default 60 s. */
  handlerTimeoutMs?: number
  /** Readiness fails when messages are pending and no write attempt has finished for this long (default 60 s). */
  stallAfterMs?: number
}

export interface BulkConsumer {
  ready(): Promise<void>
  /** Stops consuming, writes what is buffered (within stopTimeoutMs), closes the channel. */
  stop(): Promise<void>
  /** Messages ready in the queue (not yet delivered), from a passive queue declare; undefined if not connected. */
  queueDepth(): Promise<number | undefined>
  /** Messages delivered and not yet acked (buffered or in the batch being written). */
  pending(): number
  /** publishedAt of the oldest message not yet acked, or undefined. */
  oldestPendingAt(): number | undefined
  /** For /health/ready: stalled when messages are pending and no write attempt finished for `stallAfterMs`. */
  progress: ProgressMonitor
}

interface Pending<T> {
  message: BulkMessage<T>
  raw: ConsumeMessage
  size: number
  rows: number
  /** When it was delivered: the time trigger counts from here (publishedAt may lie far back in a backlog). */
  arrivedAt: number
  /** Tracing on: the contexts it carries (one per message of a rows message with several traces). */
  traces?: Context[]
}

/**
 * Tracing on: the spans of one batch. Each message gets a CONSUMER span in its own trace (a child of the context it
 * carries), from its delivery until its batch was written and acked: that is the write as that message's trace
 * sees it. The write itself (the handler: the ClickHouse insert, the claim-check reads) runs once for all, inside the
 * first of them, the leader; the others link to it (many traces in, one write out: OpenTelemetry's batch rule).
 */
interface BatchSpans<T> {
  leader: Span
  spans: { pending: Pending<T>; span: Span }[]
}

/** The bulk consumers a gauge reports (by the gauge: one registry's gauge is shared by its consumers). */
const consumersOf = new WeakMap<object, Set<{ labels: { queue: string }; api: BulkConsumer }>>()
const registered = (gauge: object) => consumersOf.get(gauge) ?? new Set()

export function startBulkConsumer<T>(broker: Broker, options: StartBulkConsumerOptions<T>): BulkConsumer {
  const { def, logger } = options
  const policy: BulkPolicy = { ...DEFAULT_BULK_POLICY, ...options.policy }
  const prefetch = options.prefetch ?? def.prefetch ?? policy.maxRows * 2
  // A message of one row each needs a prefetch of a batch at least, or no batch ever fills by rows. With rowsOf a
  // message may stand for many rows (an envelope of events), and a prefetch of a few of them is the point.
  if (!options.rowsOf && prefetch < policy.maxRows) {
    throw new MessagingError('MSG_INVALID_DEFINITION', `${def.queue}: prefetch ${prefetch} < batch size`)
  }
  if (options.decode && options.schema) {
    throw new MessagingError('MSG_INVALID_DEFINITION', `${def.queue}: give a schema or a decode, not both`)
  }
  const decode = options.decode ?? jsonDecode<T>(options.schema)
  const sizeOf = options.sizeOf ?? ((_body: T, content: Buffer) => content.length)
  const rowsOf = options.rowsOf ?? (() => 1)
  const initialBackoff = options.backoff?.initialMs ?? 200
  const maxBackoff = options.backoff?.maxMs ?? 10_000
  const log = logger.child({ queue: def.queue })
  const queue = { queue: def.queue }

  let generation = 0
  let current: { ch: ConfirmChannel; consumerTag: string; generation: number } | undefined
  let buffer: Pending<T>[] = []
  let bufferBytes = 0
  let bufferRows = 0
  let inFlight: Pending<T>[] = []
  let timer: NodeJS.Timeout | undefined
  let loop: Promise<void> | undefined
  let stopping = false
  let stopDeadline = Number.POSITIVE_INFINITY
  const stopped = new AbortController()
  const deadLetters = new Set<Promise<void>>()

  const progress = createProgressMonitor(`bulk consumer of ${def.queue}`, options.stallAfterMs ?? 60_000)
  const handlerTimeoutMs = options.handlerTimeoutMs ?? 60_000
  const api: BulkConsumer = {
    progress,
    ready: () => channel.waitForConnect(),
    pending: () => buffer.length + inFlight.length,
    oldestPendingAt() {
      const times = [...inFlight, ...buffer].map((p) => p.message.publishedAt)
      return times.length ? Math.min(...times) : undefined
    },
    async queueDepth() {
      if (!current) return undefined
      const reply = await current.ch.checkQueue(def.queue)
      return reply.messageCount
    },
    stop,
  }

  // bulk_consumer_*: a bulk consumer's, not startConsumer's consumer_* (one message per handler call).
  const metrics = options.registry && {
    received: counter(options.registry, 'bulk_consumer_received_total', 'Messages delivered', ['queue']),
    acked: counter(options.registry, 'bulk_consumer_acked_total', 'Messages acked after their batch', ['queue']),
    dead: counter(options.registry, 'bulk_consumer_dead_lettered_total', 'Messages dead-lettered', ['queue']),
    failures: counter(options.registry, 'bulk_consumer_batch_failures_total', 'Failed batch attempts', ['queue']),
    // A gauge's collect is the one its first caller gave (@platform/metrics returns the registered gauge to the
    // others), so each reports every bulk consumer of the registry (consumersOf), not only the first one's queue.
    depth: gauge(
      options.registry,
      'bulk_consumer_queue_depth',
      'Messages ready in the queue',
      ['queue'],
      async function () {
        // One passive declare per queue: its consumers would all read the same number.
        const byQueue = new Map<string, BulkConsumer>()
        for (const c of registered(this)) if (!byQueue.has(c.labels.queue)) byQueue.set(c.labels.queue, c.api)
        await Promise.all(
          [...byQueue].map(async ([q, consumer]) => {
            const depth = await consumer.queueDepth().catch(() => undefined)
            if (depth !== undefined) this.set({ queue: q }, depth)
          }),
        )
      },
    ),
    pending: gauge(
      options.registry,
      'bulk_consumer_pending',
      'Messages delivered, not yet acked',
      ['queue'],
      function () {
        // Summed per queue: several consumers of one queue (one each per channel) hold its messages between them.
        const sums = new Map<string, number>()
        for (const c of registered(this)) sums.set(c.labels.queue, (sums.get(c.labels.queue) ?? 0) + c.api.pending())
        for (const [q, n] of sums) this.set({ queue: q }, n)
      },
    ),
    oldest: gauge(
      options.registry,
      'bulk_consumer_oldest_pending_seconds',
      'Age of the oldest message delivered and not yet acked (0 when none)',
      ['queue'],
      function () {
        const ages = new Map<string, number>()
        for (const c of registered(this)) {
          const oldest = c.api.oldestPendingAt()
          const age = oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000)
          ages.set(c.labels.queue, Math.max(ages.get(c.labels.queue) ?? 0, age))
        }
        for (const [q, age] of ages) this.set({ queue: q }, age)
      },
    ),
  }
  const gauges = metrics ? [metrics.depth, metrics.pending, metrics.oldest] : []
  const reported = { labels: queue, api }
  for (const g of gauges) consumersOf.set(g, registered(g).add(reported))

  // The counters' series exist from the start at 0, so the first dead letter shows as an increase() (consumer.ts).
  if (metrics) for (const c of [metrics.received, metrics.acked, metrics.dead, metrics.failures]) c.inc(queue, 0)

  function parse(
    raw: ConsumeMessage,
  ): { message: BulkMessage<T> } | { error: Error; headers: Record<string, unknown> } {
    // A message an operator moved back from the DLQ starts afresh, as in startConsumer.
    const { headers } = deliveryHeaders(raw.properties.headers ?? {})
    let body: T
    try {
      body = decode(raw.content, { type: raw.properties.type, headers })
    } catch (error) {
      return { error: error instanceof Error ? error : new Error(String(error)), headers }
    }
    const messageId = String(raw.properties.messageId ?? '')
    if (!messageId) return { error: new Error('message has no messageId; consumers deduplicate by it'), headers }
    const timestamp = Number(raw.properties.timestamp)
    return {
      message: {
        body,
        messageId,
        type: raw.properties.type,
        correlationId: correlationIdFrom(raw.properties.correlationId),
        ...originOf(headers, raw.fields),
        attempt: numberHeader(headers[H.attempt]) + 1,
        redelivered: raw.fields.redelivered,
        headers,
        size: sizeOf(body, raw.content),
        rows: rowsOf(body),
        publishedAt: Number.isFinite(timestamp) && timestamp > 0 ? timestamp * 1000 : Date.now(),
      },
    }
  }

  /** Publishes to the DLQ with the headers startConsumer writes (an operator reads them before moving it back). */
  async function deadLetter(ch: ConfirmChannel, raw: ConsumeMessage, headers: Record<string, unknown>, error: unknown) {
    const attempt = numberHeader(headers[H.attempt]) + 1
    const failure = { headers, origin: originOf(headers, raw.fields), error, attempt }
    await publishConfirmed(ch, dlqName(def.queue), raw.content, {
      ...raw.properties,
      persistent: true,
      headers: deadLetterHeaders(failure, def.queue),
    })
    metrics?.dead.inc(queue)
    log.error({ messageId: raw.properties.messageId, err: errorText(error) }, 'message dead-lettered')
  }

  function onDelivery(ch: ConfirmChannel, gen: number, raw: ConsumeMessage) {
    metrics?.received.inc(queue)
    const parsed = parse(raw)
    if ('error' in parsed) {
      const task = deadLetter(ch, raw, parsed.headers, parsed.error)
        .then(() => ch.ack(raw))
        .catch((err) => log.warn({ err: errorText(err), gen }, 'could not dead-letter; it will be redelivered'))
        .finally(() => deadLetters.delete(task))
      deadLetters.add(task)
      return
    }
    const { size, rows } = parsed.message
    const traces = tracingEnabled() ? contextsOf(deliveryTrace(parsed.message.headers)) : undefined
    buffer.push({ message: parsed.message, raw, size, rows, arrivedAt: Date.now(), ...(traces ? { traces } : {}) })
    bufferBytes += size
    bufferRows += rows
    progress.setPending(api.pending())
    kick()
  }

  function kick() {
    if (loop) return // the running loop looks at the buffer again after each batch
    if (stopping ? buffer.length > 0 : due()) {
      clearTimeout(timer)
      timer = undefined
      loop = run().finally(() => {
        loop = undefined
        // After stop()'s deadline what is left stays unacked: the broker redelivers it when the channel closes.
        if (buffer.length > 0 && !(stopping && Date.now() >= stopDeadline)) kick()
      })
    } else if (buffer.length > 0 && !timer) {
      const wait = Math.max(0, (buffer[0]?.arrivedAt ?? 0) + policy.maxWaitMs - Date.now())
      timer = setTimeout(() => {
        timer = undefined
        kick()
      }, wait)
    }
  }

  function due(): FlushReason | undefined {
    return flushDue(policy, { rows: bufferRows, bytes: bufferBytes, oldestAt: buffer[0]?.arrivedAt }, Date.now())
  }

  async function run() {
    while (stopping ? buffer.length > 0 && Date.now() < stopDeadline : due()) {
      const batch = takeBulk(buffer, policy)
      for (const p of batch) {
        bufferBytes -= p.size
        bufferRows -= p.rows
      }
      inFlight = batch
      try {
        await write(batch, generation)
      } finally {
        inFlight = []
        progress.setPending(api.pending())
      }
    }
  }

  function startBatchSpans(batch: Pending<T>[]): BatchSpans<T> | undefined {
    if (!tracingEnabled()) return undefined
    let leader: Span | undefined
    const spans: BatchSpans<T>['spans'] = []
    for (const pending of batch) {
      for (const parent of pending.traces ?? []) {
        const { message } = pending
        const span = startProcessSpan(
          def.queue,
          { messageId: message.messageId, correlationId: message.correlationId, attempt: message.attempt },
          parent,
          { startTime: pending.arrivedAt, ...(leader ? { links: [{ context: leader.spanContext() }] } : {}) },
        )
        span.setAttribute(ATTR.messagingBatchCount, batch.length)
        leader ??= span
        spans.push({ pending, span })
      }
    }
    return leader ? { leader, spans } : undefined
  }

  /** Ends the batch's spans: dead-lettered messages as failed, all of them as failed when the batch was not acked. */
  function endBatchSpans(traced: BatchSpans<T> | undefined, dead: Map<BulkMessage<T>, unknown>, error?: unknown) {
    for (const { pending, span } of traced?.spans ?? []) {
      const failure = error ?? (dead.has(pending.message) ? (dead.get(pending.message) ?? 'dead-lettered') : undefined)
      span.setAttribute(ATTR.outcome, error ? 'redelivered' : dead.has(pending.message) ? 'dead' : 'ack')
      endSpan(span, failure)
    }
  }

  async function write(batch: Pending<T>[], gen: number) {
    const traced = startBatchSpans(batch)
    const handle = () => options.handler(batch.map((p) => p.message))
    let settled = false
    try {
      settled = await attempts(
        batch,
        gen,
        traced,
        traced ? () => withSpan(traced.leader, handle, ROOT_CONTEXT) : handle,
      )
    } finally {
      if (!settled) endBatchSpans(traced, new Map(), new Error('not acked: the broker delivers the batch again'))
    }
  }

  /** Calls the handler until it resolves, then settles; false when the batch was left to the broker instead. */
  async function attempts(
    batch: Pending<T>[],
    gen: number,
    traced: BatchSpans<T> | undefined,
    handle: () => ReturnType<BulkHandler<T>>,
  ): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      if (gen !== generation) return false // the channel went away: the broker redelivers these to the next one
      let outcome: BulkOutcome<T> | undefined
      try {
        outcome = (await withTimeout(handle(), handlerTimeoutMs, 'the batch handler')) ?? undefined
        progress.progressed()
      } catch (error) {
        traced?.leader.recordException(error instanceof Error ? error : new Error(String(error)))
        // A write past its deadline made no progress (its retry would otherwise hide a hang from readiness).
        if (!(error instanceof HandlerTimeoutError)) progress.progressed()
        metrics?.failures.inc(queue)
        log.warn({ err: errorText(error), attempt, size: batch.length }, 'batch failed; nothing acked, retrying')
        if (stopping) return false // one attempt after stop(); the broker redelivers what is left
        const delay = Math.min(initialBackoff * 2 ** (attempt - 1), maxBackoff)
        // Interrupted by stop(), which then makes one last attempt within its deadline.
        await sleep(delay / 2 + Math.random() * (delay / 2), undefined, { signal: stopped.signal }).catch(() => {})
        continue
      }
      return settle(batch, outcome, gen, traced)
    }
  }

  async function settle(
    batch: Pending<T>[],
    outcome: BulkOutcome<T> | undefined,
    gen: number,
    traced: BatchSpans<T> | undefined,
  ): Promise<boolean> {
    const target = current
    if (!target || target.generation !== gen) return false
    const dead = new Map((outcome?.dead ?? []).map((d) => [d.message, d.error]))
    try {
      await Promise.all(
        batch
          .filter((p) => dead.has(p.message))
          .map((p) => deadLetter(target.ch, p.raw, p.message.headers, dead.get(p.message))),
      )
      for (const p of batch) target.ch.ack(p.raw)
      metrics?.acked.inc(queue, batch.length)
      endBatchSpans(traced, dead)
      return true
    } catch (error) {
      // The channel closed under us: the broker redelivers the batch; the sink has it already (idempotent writes).
      log.warn({ err: errorText(error) }, 'could not settle batch; it will be redelivered')
      return false
    }
  }

  const channel = broker.createChannel({
    name: `bulk-consumer:${def.queue}`,
    confirm: true,
    setup: async (ch: ConfirmChannel) => {
      await declareConsumerTopology(ch, def, { connection: broker.connection, logger: log })
      if (stopping) return
      const gen = ++generation
      // Deliveries of an earlier channel are requeued by the broker; they must never be acked on this one.
      buffer = []
      bufferBytes = 0
      bufferRows = 0
      ch.once('close', () => {
        if (generation !== gen) return
        generation++
        buffer = []
        bufferBytes = 0
        bufferRows = 0
        progress.setPending(api.pending())
      })
      await ch.prefetch(prefetch)
      const { consumerTag } = await ch.consume(def.queue, (raw) => {
        if (!raw) {
          log.warn('consumer cancelled by the broker')
          return
        }
        if (gen !== generation) return
        onDelivery(ch, gen, raw)
      })
      current = { ch, consumerTag, generation: gen }
    },
  })

  async function stop() {
    if (stopping) return
    stopping = true
    for (const g of gauges) consumersOf.get(g)?.delete(reported)
    stopDeadline = Date.now() + (options.stopTimeoutMs ?? 5_000)
    if (current) await current.ch.cancel(current.consumerTag).catch(() => {})
    stopped.abort()
    kick()
    await loop
    clearTimeout(timer)
    // Bounded like consumer.ts's stop(): what is not settled by then is redelivered by the broker.
    await settledWithin([...deadLetters], options.stopTimeoutMs ?? 5_000)
    await settledWithin([channel.close()], 2000)
  }

  return api
}
