import { randomUUID } from 'node:crypto'
import type { Static } from '@platform/config'
import { activityRecorded } from '@platform/contracts'
import type { Tx } from '@platform/db'
import type { EventLog } from '@platform/eventlog'
import type { MessageDef } from '@platform/messaging'
import { enqueueMessage } from '@platform/outbox'
import type { FollowsRepository } from '../follows/follows-repository.js'
import type { Idempotency, IdempotentRequest } from '../idempotency/idempotency.js'
import type { PostsRepository } from '../posts/posts-repository.js'
import type { UsersRepository } from '../users/users-repository.js'

/**
 * What the command functions (one file each in this folder) are given. Each runs in ONE transaction, opened by
 * `idempotency.run`: the write tables, the idempotency record, and the three records of what happened (recordFact).
 */
export interface CommandDeps {
  idempotency: Idempotency
  posts: PostsRepository
  follows: FollowsRepository
  users: UsersRepository
  eventLog: EventLog
  /** The clock of the commands' times (tests fix it); defaults to the system's. */
  now?: () => Date
}

/** Every command's input names its user and its Idempotency-Key (with the request's fingerprint). */
export interface CommandInput {
  userId: string
  idempotency: IdempotentRequest
}

export interface Fact<M extends MessageDef> {
  /** The domain event on the `feed` exchange (packages/contracts/lib/feed.ts). */
  message: M
  body: Static<M['schema']>
  /** Events of one pair (post and liker, follower and followee) are published in the order they were committed. */
  orderingKey: string
  /** The user who acted: the activity event's userId. */
  actorId: string
  /** The activity kind for analytics: "post.created", "like", "unlike", "follow", "unfollow". */
  activityKind: string
  /** The post or user the act concerns (the activity event's courseId). */
  objectId: string
  at: Date
}

/**
 * The three records of one fact, in the caller's transaction (the transactional outbox: published if and only if it
 * commits): the domain event to `feed`, the activity event to `activity` (analytics counts it by its eventId, which
 * is also its message id), and an event-log record (the log-shipper takes it to ClickHouse) whose type is the
 * domain event's routing key and whose context is its body: ids and times, never a post's text.
 */
export async function recordFact<M extends MessageDef>(tx: Tx, deps: CommandDeps, fact: Fact<M>): Promise<void> {
  await enqueueMessage(tx, fact.message, fact.body, { orderingKey: fact.orderingKey })
  const activityId = randomUUID()
  await enqueueMessage(
    tx,
    activityRecorded,
    {
      eventId: activityId,
      userId: fact.actorId,
      kind: fact.activityKind,
      performedAt: fact.at.toISOString(),
      courseId: fact.objectId,
    },
    { messageId: activityId },
  )
  await deps.eventLog.record(tx, {
    eventType: typeof fact.message.routingKey === 'string' ? fact.message.routingKey : fact.message.type,
    context: fact.body,
    occurredAt: fact.at,
  })
}
