import { DEFAULT_RETRY, defineConsumer, defineMessage } from '@platform/messaging'
import Type, { type Static } from 'typebox'
import { exchanges } from './exchanges.js'

/**
 * User activity for analytics (docs/analytics.md): any service publishes what a user did (feed: login, post, like,
 * follow) to the `activity` exchange, through its outbox, in the transaction of the act itself; analytics stores it
 * in its events table and keeps its rollups. The body is the analytics event as stored, so an external producer's
 * `POST /v1/events` item and a message are the same shape.
 */

/** What happened, lower case: "login", "post.created", "like", "follow". Also the last segments of the routing key. */
export const ActivityKind = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$' })

export const ActivityRecordedV1 = Type.Object({
  /** The producer's id of the event (UUID): analytics stores an id once, so a redelivery counts once. */
  eventId: Type.String({ format: 'uuid' }),
  /** The user who acted, as the producing service names users (feed: the user's UUID). */
  userId: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f]+$' }),
  kind: ActivityKind,
  /** When it happened (ISO 8601 with a zone); analytics counts UTC days. */
  performedAt: Type.String({ format: 'date-time' }),
  /** The course, post or other object it concerns, where there is one (the brief's course_id). */
  courseId: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])),
  properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
})
export type ActivityRecordedV1 = Static<typeof ActivityRecordedV1>

export const activityRecorded = defineMessage({
  type: 'activity.recorded.v1',
  exchange: exchanges.activity,
  routingKey: (body: ActivityRecordedV1) => `activity.${body.kind}`,
  schema: ActivityRecordedV1,
})

/** analytics: every activity event, into the events table and the rollups (inbox idempotency by message id). */
export const analyticsActivityConsumer = defineConsumer({
  queue: 'analytics.activity',
  message: activityRecorded,
  bindings: [{ exchange: exchanges.activity, routingKey: 'activity.#' }],
  retry: DEFAULT_RETRY,
})

/** The most events one activity.batch.v1 message may carry. */
export const ACTIVITY_BATCH_MAX_EVENTS = 1_000
/**
 * The largest activity.batch.v1 body the consumer takes (4 MiB; larger ones are dead-lettered). With the batch
 * queue's prefetch it bounds what the consumer holds in memory: prefetch x this.
 */
export const ACTIVITY_BATCH_MAX_BYTES = 4 * 1024 * 1024

/**
 * Many events in one message, for a producer with volume (an importer, a backend relaying its clients' events): one
 * event per message is bounded by the broker's message rate (~25,000 messages/s on the benchmark machine, all of
 * the consumer's time), and a batch makes that rate events instead (docs/analytics.md#ingestion). The batch is
 * stored whole or not at all, like a POST /v1/events: one event out of the window dead-letters the message.
 */
export const ActivityBatchV1 = Type.Object({
  events: Type.Array(ActivityRecordedV1, { minItems: 1, maxItems: ACTIVITY_BATCH_MAX_EVENTS }),
})
export type ActivityBatchV1 = Static<typeof ActivityBatchV1>

/**
 * Routing key `activity-batch`: one word, so `activity.#` (the single events' binding) does not take batches, which
 * need a queue of their own with a small prefetch (below).
 */
export const activityBatch = defineMessage({
  type: 'activity.batch.v1',
  exchange: exchanges.activity,
  routingKey: () => 'activity-batch',
  schema: ActivityBatchV1,
})

/**
 * analytics: the batches, into the same events table and rollups (the same inbox). A queue of its own because a
 * prefetch counts messages: the single events' 10,000 would be up to 10,000 batches in memory here, so this queue's
 * consumer holds few (ANALYTICS_BATCH_CONSUMER_PREFETCH, 16 by default: at most 64 MiB).
 */
export const analyticsActivityBatchConsumer = defineConsumer({
  queue: 'analytics.activity-batches',
  message: activityBatch,
  bindings: [{ exchange: exchanges.activity, routingKey: 'activity-batch' }],
  retry: DEFAULT_RETRY,
})
