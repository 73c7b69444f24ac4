import { randomUUID } from 'node:crypto'
import { type EventLoggedV1, EventLogMessageV1, eventsOf, logShipperConsumer } from '@platform/contracts'
import type { Sql } from '@platform/db'
import { claimCheckStore } from '@platform/eventlog'
import type { Logger } from '@platform/logging'
import {
  type BatchConsumer,
  type BatchMessage,
  type BatchPolicy,
  type Broker,
  type ConsumerDef,
  startBatchConsumer,
} from '@platform/messaging'
import { createRegistry, type Registry } from '@platform/metrics'
import { rowsRejected } from './errors.js'
import { failedEventsRepository } from './failed-events.js'
import { insertIsolating } from './isolate.js'
import { shipperMetrics } from './metrics.js'
import { type EventLogRow, type EventSink, toRow } from './sink.js'

export interface LogShipperOptions {
  /** PostgreSQL: the shipper's schema (failed_events) and the claim-check store (eventlog_claims). */
  sql: Sql
  broker: Broker
  sink: EventSink
  logger: Logger
  registry?: Registry
  /** Flush triggers: rows (10,000), bytes (16 MiB), wait (1 s), whichever comes first. */
  policy?: Partial<BatchPolicy>
  /** Unacked messages the broker may hand over; at least the batch size. Defaults to the consumer definition's. */
  prefetch?: number
  /** Backoff of a batch the sink cannot take now. */
  backoff?: { initialMs?: number; maxMs?: number }
  /** Tests use their own queue name; production uses logShipperConsumer. */
  def?: ConsumerDef
}

export interface LogShipper {
  start(): Promise<void>
  /** Stops consuming and ships what is buffered (bounded), then closes its channel. */
  stop(): Promise<void>
  readonly consumer: BatchConsumer | undefined
}

/** One event of a message (a message is one event or an envelope of several). */
interface Item {
  message: BatchMessage<EventLogMessageV1>
  event: EventLoggedV1
  row: EventLogRow
}

/**
 * Consumes event-log messages in batches and writes them to the sink; acks a batch only after the sink accepted
 * it. Per batch:
 *   1. fetch the contexts of claim-check messages from PostgreSQL (a payload that is gone was shipped before:
 *      this is a redelivery after the cleanup, so the message is only acked);
 *   2. insert, bisecting around rows the sink rejects (insertIsolating);
 *   3. record rejected rows in failed_events, delete the payloads of the rows that landed;
 *   4. hand the rejected messages back as dead (the batch consumer publishes them to the DLQ, then acks all).
 * A crash anywhere before the acks redelivers the batch; rows written twice are deduplicated by the reads
 * (ReplacingMergeTree + FINAL, docs/adr/0006-clickhouse-dedup-and-portability.md).
 */
/**
 * The messages to dead-letter: each message with a rejected event, once, its reason naming the events. An envelope
 * goes whole: its other events landed, and land again harmlessly (deduplicated) when it is moved back.
 */
function deadMessages(rejected: { item: Item; error: unknown }[]) {
  const byMessage = new Map<BatchMessage<EventLogMessageV1>, { ids: string[]; error: unknown }>()
  for (const { item, error } of rejected) {
    const entry = byMessage.get(item.message) ?? { ids: [], error }
    entry.ids.push(item.row.event_id)
    byMessage.set(item.message, entry)
  }
  return [...byMessage].map(([message, { ids, error }]) => ({
    message,
    error:
      'events' in message.body ? new Error(`event(s) ${ids.join(', ')} rejected: ${(error as Error).message}`) : error,
  }))
}

export function createLogShipper(options: LogShipperOptions): LogShipper {
  const { sql, sink, logger } = options
  const def = options.def ?? logShipperConsumer
  const registry = options.registry ?? createRegistry()
  const claims = claimCheckStore(sql)
  const failedEvents = failedEventsRepository(sql)
  const metrics = shipperMetrics(registry, claims)
  let consumer: BatchConsumer | undefined

  async function timedInsert(items: Item[]): Promise<void> {
    const end = metrics.insertDuration.startTimer()
    try {
      await sink.insert(items.map((i) => i.row))
      end({ outcome: 'ok' })
    } catch (error) {
      end({ outcome: rowsRejected(error) ? 'rejected' : 'unavailable' })
      throw error
    }
  }

  async function shipBatch(batch: BatchMessage<EventLogMessageV1>[]) {
    const batchId = randomUUID()
    const events = batch.flatMap((message) => eventsOf(message.body).map((event) => ({ message, event })))
    const payloads = await claims.get(events.flatMap(({ event }) => (event.claimCheck ? [event.claimCheck.id] : [])))
    const items: Item[] = []
    for (const { message, event } of events) {
      const context = event.claimCheck ? payloads.get(event.claimCheck.id) : (event.context ?? 'null')
      if (context === undefined) {
        // Payloads are deleted only after ClickHouse accepted their row: this one was shipped already.
        metrics.alreadyShipped.inc()
        continue
      }
      items.push({ message, event, row: toRow(event, context) })
    }

    const { rejected } = await insertIsolating(items, timedInsert)
    const failed = new Set(rejected.map((r) => r.item))
    const landed = items.filter((i) => !failed.has(i))

    if (rejected.length > 0) {
      await failedEvents.record(
        rejected.map(({ item, error }) => ({
          batchId,
          eventId: item.row.event_id,
          messageId: item.message.messageId,
          error: (error as Error).message.slice(0, 2000),
          event: item.event,
        })),
      )
      metrics.failedRows.inc(rejected.length)
      logger.error(
        { batchId, failed: rejected.map((r) => r.item.row.event_id), size: items.length },
        'ClickHouse rejected rows; they go to the dead-letter queue, the rest of the batch landed',
      )
    }
    // A rejected row keeps its payload: it is needed when the event is moved back from the DLQ.
    await claims.remove(landed.flatMap((i) => (i.event.claimCheck ? [i.event.claimCheck.id] : [])))

    metrics.rowsInserted.inc(landed.length)
    metrics.batchRows.observe(items.length)
    metrics.batchBytes.observe(items.reduce((sum, i) => sum + i.row.event_context.length, 0))
    return { dead: deadMessages(rejected) }
  }

  return {
    get consumer() {
      return consumer
    },
    async start() {
      consumer = startBatchConsumer<EventLogMessageV1>(options.broker, {
        def,
        logger,
        registry,
        schema: EventLogMessageV1,
        policy: options.policy ?? {},
        ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        // What a message weighs in the batch: its events, and their contexts also where they wait in the
        // claim-check store.
        rowsOf: (body) => {
          // Called once per delivery: also the count of events received (redeliveries included).
          const events = eventsOf(body).length
          metrics.eventsReceived.inc(events)
          return events
        },
        sizeOf: (body, content) =>
          content.length + eventsOf(body).reduce((sum, e) => sum + (e.claimCheck?.bytes ?? 0), 0),
        handler: shipBatch,
      })
      await consumer.ready()
    },
    async stop() {
      await consumer?.stop()
    },
  }
}
