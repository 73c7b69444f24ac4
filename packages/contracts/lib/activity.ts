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
