import {
  ACTIVITY_BATCH_MAX_BYTES,
  type ActivityRecordedV1,
  activityBatch,
  analyticsActivityBatchConsumer,
  analyticsActivityConsumer,
} from '@platform/contracts'
import {
  type Broker,
  type BulkConsumer,
  type BulkDecode,
  type ConsumerDef,
  defineConsumer,
  jsonDecode,
  startBulkConsumer,
} from '@platform/messaging'
import type { Registry } from '@platform/metrics'
import type { ServiceRuntime } from '@platform/service'
import type { Ingestion } from './ingestion.js'

export interface ActivityConsumerOptions {
  broker: Broker
  logger: ServiceRuntime['logger']
  registry: Registry
  ingestion: Ingestion
  /** Events per transaction at most (a batch message counts its events). */
  batchRows: number
  batchWaitMs: number
  /** Single-event messages held unacked. */
  prefetch: number
  /** Batch messages held unacked by each batch consumer (each message up to ACTIVITY_BATCH_MAX_BYTES). */
  batchPrefetch: number
  /** Consumers of the batch queue, each its own channel and transaction at a time. */
  batchConcurrency: number
}

/** What either queue's message becomes for the handler: its events, in order (a single event: one). */
export type ActivityEvents = ActivityRecordedV1[]

const decodeSingle = jsonDecode<ActivityRecordedV1>(analyticsActivityConsumer.message.schema)
const decodeSingleMessage: BulkDecode<ActivityEvents> = (content) => [decodeSingle(content)]

const decodeBatch = jsonDecode<{ events: ActivityRecordedV1[] }>(activityBatch.schema)
/** Too large a body is refused before it is parsed: dead-lettered, as a body that breaks the schema. */
const decodeBatchMessage: BulkDecode<ActivityEvents> = (content) => {
  if (content.length > ACTIVITY_BATCH_MAX_BYTES) {
    throw new Error(`message body of ${content.length} bytes is over ${ACTIVITY_BATCH_MAX_BYTES} (activity.batch.v1)`)
  }
  return decodeBatch(content).events
}

/**
 * The `activity` exchange's two consumers (the catalog's analyticsActivityConsumer and analyticsActivityBatchConsumer):
 *   analytics.activity          single events (`activity.<kind>`, what feed publishes), prefetch in the thousands;
 *   analytics.activity-batches  activity.batch.v1, up to 1,000 events a message, a prefetch of a few messages,
 *                               `batchConcurrency` consumers.
 * Both are bulk consumers (@platform/messaging bulk-consumer.ts): a backlog is written up to `batchRows` events per
 * transaction instead of one message's, and a message is acked only after the transaction holding its events and
 * its inbox row committed. A crash before the ack redelivers the batch; the inbox skips the messages already stored
 * (and the events' key the events). Bodies that break their schema, and messages with an event out of the time
 * window, go to the queue's DLQ. Under low traffic a batch waits at most `batchWaitMs` after its first message: how
 * far the rollups lag the bus.
 */
export function startActivityConsumers(options: ActivityConsumerOptions) {
  const start = (catalog: ConsumerDef, prefetch: number, decode: BulkDecode<ActivityEvents>): BulkConsumer =>
    startBulkConsumer<ActivityEvents>(options.broker, {
      def: defineConsumer({ ...catalog, prefetch }),
      logger: options.logger,
      registry: options.registry,
      decode,
      rowsOf: (events) => events.length,
      prefetch,
      policy: { maxRows: options.batchRows, maxWaitMs: options.batchWaitMs, maxBytes: 16 * 1024 * 1024 },
      handler: (batch) => options.ingestion.consumeBatch(batch),
    })
  return {
    singles: start(analyticsActivityConsumer, options.prefetch, decodeSingleMessage),
    // Several at once, as POST /v1/events takes concurrent requests: one batch's events insert runs while another
    // holds the rollup lock (rollup.ts), which one consumer, a transaction at a time, cannot overlap.
    batches: Array.from({ length: options.batchConcurrency }, () =>
      start(analyticsActivityBatchConsumer, options.batchPrefetch, decodeBatchMessage),
    ),
  }
}
