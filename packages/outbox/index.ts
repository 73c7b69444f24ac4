export { anyBucket, BUCKETS, bucketOf, enqueue, enqueueMessage, type OutboxMessage } from './lib/enqueue.js'
export { outboxMigrations } from './lib/migrations.js'
export { createOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './lib/relay.js'
