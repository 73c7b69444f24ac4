export { enqueue, enqueueMany, enqueueMessage, type OutboxMessage } from './lib/enqueue.js'
export { outboxMigrations } from './lib/migrations.js'
export { BUCKETS, bucketSql, insertOutboxRows, OUTBOX_SOURCE_COLUMNS, traceparentsSql } from './lib/outbox-rows.js'
export {
  createOutboxRelay,
  MIN_CLAIM_INTERVAL_MS,
  type OutboxRelay,
  type OutboxRelayOptions,
  type RelayObserver,
  relayMetrics,
} from './lib/relay.js'
export {
  createThreadedOutboxRelay,
  THREAD_MIN_CLAIM_INTERVAL_MS,
  type ThreadedOutboxRelayOptions,
} from './lib/relay-thread.js'
