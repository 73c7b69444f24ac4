import { randomUUID } from 'node:crypto'
import { type EventLoggedV1, logShipperConsumer } from '@platform/contracts'
import type { Sql } from '@platform/db'
import { claimCheckStore } from '@platform/eventlog'
import type { Logger } from '@platform/logging'
import {
  type Broker,
  type BulkConsumer,
  type BulkMessage,
  type BulkPolicy,
  type ConsumerDef,
  startBulkConsumer,
} from '@platform/messaging'
import { createRegistry, type Registry } from '@platform/metrics'
import { rowsRejected } from './errors.js'
import { failedEventsRepository } from './failed-events.js'
import { insertIsolating } from './isolate.js'
import { decodeMessage, parsedRows, rowsIn, type ShipperMessage } from './messages.js'
import { shipperMetrics } from './metrics.js'
import { type EventSink, rowsOfPart, type SinkPart, sinkBatch, toRow } from './sink.js'

export interface LogShipperOptions {
  /** PostgreSQL: the shipper's schema (failed_events) and the claim-check store (eventlog_claims). */
  sql: Sql
  broker: Broker
  sink: EventSink
  logger: Logger
  registry?: Registry
  /** Flush triggers: rows (10,000), bytes (16 MiB), wait (1 s), whichever comes first. */
  policy?: Partial<BulkPolicy>
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
  readonly consumer: BulkConsumer | undefined
}

/**
 * What the shipper inserts and bisects: one event of a parsed message (with the event, for its claim check and its
 * failed_events record), or a rows message's rows as one JSON part (split into one item per row only when ClickHouse
 * rejected it).
 */
interface Item {
  message: BulkMessage<ShipperMessage>
  part: SinkPart
  event?: EventLoggedV1
}

const rowsOfItems = (items: Item[]) => items.reduce((sum, i) => sum + rowsOfPart(i.part), 0)

/** A rejected rows message, split into its rows (parsed here, and only here), so bisection finds the rejected ones. */
function splitRows(item: Item): Item[] {
  if ('row' in item.part) return [item]
  return parsedRows(item.part.json).map((row) => ({ message: item.message, part: { row } }))
}

/**
 * The messages to dead-letter: each message with a rejected event, once, its reason naming the events. A message of
 * several events goes whole: its other events landed, and land again harmlessly (deduplicated) when it is moved
 * back.
 */
function deadMessages(rejected: { item: Item; error: unknown }[]) {
  const byMessage = new Map<BulkMessage<ShipperMessage>, { ids: string[]; error: unknown }>()
  for (const { item, error } of rejected) {
    const entry = byMessage.get(item.message) ?? { ids: [], error }
    if ('row' in item.part) entry.ids.push(item.part.row.event_id)
    byMessage.set(item.message, entry)
  }
  return [...byMessage].map(([message, { ids, error }]) => ({
    message,
    error:
      rowsIn(message.body) > 1 && ids.length > 0
        ? new Error(`event(s) ${ids.join(', ')} rejected: ${(error as Error).message}`)
        : error,
  }))
}

/**
 * Consumes event-log messages in batches and writes them to the sink; acks a batch only after the sink accepted
 * it. Per batch:
 *   1. fetch the contexts of claim-check messages from PostgreSQL (a payload that is gone was shipped before:
 *      this is a redelivery after the cleanup, so the message is only acked);
 *   2. insert, bisecting around rows the sink rejects (insertIsolating): over messages' parts first, then over the
 *      rows of a rows message that is rejected alone;
 *   3. record rejected rows in failed_events, delete the payloads of the rows that landed;
 *   4. hand the rejected messages back as dead (the bulk consumer publishes them to the DLQ, then acks all).
 * A crash anywhere before the acks redelivers the batch; rows written twice are deduplicated by the reads
 * (ReplacingMergeTree + FINAL, docs/adr/0006-clickhouse-dedup-and-portability.md).
 * Rows messages are neither parsed nor validated on this path: their bytes go to ClickHouse as they came
 * (messages.ts, docs/eventlog.md).
 */
export function createLogShipper(options: LogShipperOptions): LogShipper {
  const { sql, sink, logger } = options
  const def = options.def ?? logShipperConsumer
  const registry = options.registry ?? createRegistry()
  const claims = claimCheckStore(sql)
  const failedEvents = failedEventsRepository(sql)
  const metrics = shipperMetrics(registry, claims)
  let consumer: BulkConsumer | undefined

  async function timedInsert(items: Item[]): Promise<void> {
    const end = metrics.insertDuration.startTimer()
    try {
      await sink.insert(sinkBatch(items.map((i) => i.part)))
      end({ outcome: 'ok' })
    } catch (error) {
      end({ outcome: rowsRejected(error) ? 'rejected' : 'unavailable' })
      throw error
    }
  }

  async function shipBatch(batch: BulkMessage<ShipperMessage>[]) {
    const batchId = randomUUID()
    const claimIds = batch.flatMap(({ body }) =>
      body.kind === 'events' ? body.events.flatMap((e) => (e.claimCheck ? [e.claimCheck.id] : [])) : [],
    )
    const payloads = await claims.get(claimIds)
    const items: Item[] = []
    for (const message of batch) {
      const { body } = message
      if (body.kind === 'rows') {
        items.push({ message, part: { json: body.json, count: body.count } })
        continue
      }
      for (const event of body.events) {
        const context = event.claimCheck ? payloads.get(event.claimCheck.id) : (event.context ?? 'null')
        if (context === undefined) {
          // Payloads are deleted only after ClickHouse accepted their row: this one was shipped already.
          metrics.alreadyShipped.inc()
          continue
        }
        items.push({ message, event, part: { row: toRow(event, context) } })
      }
    }

    const { rejected, landed } = await insertIsolating(items, timedInsert, splitRows)

    if (rejected.length > 0) {
      await failedEvents.record(
        rejected.flatMap(
          ({ item, error }) =>
            'row' in item.part
              ? [
                  {
                    batchId,
                    eventId: item.part.row.event_id,
                    messageId: item.message.messageId,
                    error: (error as Error).message.slice(0, 2000),
                    event: item.event ?? item.part.row,
                  },
                ]
              : [], // a rows message that is not valid JSON: no event to name; the DLQ header says why
        ),
      )
      metrics.failedRows.inc(rowsOfItems(rejected.map((r) => r.item)))
      logger.error(
        {
          batchId,
          failed: rejected.map(({ item }) => ('row' in item.part ? item.part.row.event_id : item.message.messageId)),
          size: rowsOfItems(items),
        },
        'ClickHouse rejected rows; they go to the dead-letter queue, the rest of the batch landed',
      )
    }
    // A rejected row keeps its payload: it is needed when the event is moved back from the DLQ.
    await claims.remove(landed.flatMap((i) => (i.event?.claimCheck ? [i.event.claimCheck.id] : [])))

    metrics.rowsInserted.inc(rowsOfItems(landed))
    metrics.batchRows.observe(rowsOfItems(items))
    metrics.batchBytes.observe(batch.reduce((sum, m) => sum + m.size, 0))
    return { dead: deadMessages(rejected) }
  }

  return {
    get consumer() {
      return consumer
    },
    async start() {
      consumer = startBulkConsumer<ShipperMessage>(options.broker, {
        def,
        logger,
        registry,
        decode: decodeMessage,
        policy: options.policy ?? {},
        ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        // What a message weighs in the batch: its events, and their contexts also where they wait in the
        // claim-check store.
        rowsOf: (body) => {
          // Called once per delivery: also the count of events received (redeliveries included).
          const events = rowsIn(body)
          metrics.eventsReceived.inc(events)
          return events
        },
        sizeOf: (body, content) =>
          content.length +
          (body.kind === 'events' ? body.events.reduce((sum, e) => sum + (e.claimCheck?.bytes ?? 0), 0) : 0),
        handler: shipBatch,
      })
      await consumer.ready()
    },
    async stop() {
      await consumer?.stop()
    },
  }
}
