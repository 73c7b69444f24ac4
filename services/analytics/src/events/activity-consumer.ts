import { type ActivityRecordedV1, analyticsActivityConsumer } from '@platform/contracts'
import { type Broker, defineConsumer, startBulkConsumer } from '@platform/messaging'
import type { Registry } from '@platform/metrics'
import type { ServiceRuntime } from '@platform/service'
import type { Ingestion } from './ingestion.js'

export interface ActivityConsumerOptions {
  broker: Broker
  logger: ServiceRuntime['logger']
  registry: Registry
  ingestion: Ingestion
  batchRows: number
  batchWaitMs: number
  prefetch: number
}

/**
 * The `activity` exchange's consumer (queue analytics.activity, the catalog's analyticsActivityConsumer): a bulk
 * consumer (@platform/messaging bulk-consumer.ts), so a backlog is written thousands of messages per transaction
 * instead of one, and a message is acked only after the transaction holding its events and its inbox row committed.
 * A crash before the ack redelivers the batch; the inbox skips the messages already stored (and the events' key the
 * events). Bodies that break ActivityRecordedV1, and events out of the time window, go to analytics.activity.dlq.
 * Under low traffic a batch waits at most `batchWaitMs` after its first message: how far the rollups lag the bus.
 */
export function startActivityConsumer(options: ActivityConsumerOptions) {
  const def = defineConsumer({ ...analyticsActivityConsumer, prefetch: options.prefetch })
  return {
    def,
    consumer: startBulkConsumer<ActivityRecordedV1>(options.broker, {
      def,
      logger: options.logger,
      registry: options.registry,
      schema: analyticsActivityConsumer.message.schema,
      prefetch: options.prefetch,
      policy: { maxRows: options.batchRows, maxWaitMs: options.batchWaitMs, maxBytes: 16 * 1024 * 1024 },
      handler: (batch) => options.ingestion.consumeBatch(batch),
    }),
  }
}
