export { anyBucket, BUCKETS, bucketOf, enqueue, enqueueMessage, type OutboxMessage } from './lib/enqueue.js'
export { outboxMigrations } from './lib/migrations.js'
export { createOutboxRelay, MIN_CLAIM_INTERVAL_MS, type OutboxRelay, type OutboxRelayOptions } from './lib/relay.js'
