import { defineMessage } from '@platform/messaging'
import Type, { type Static } from 'typebox'
import { exchanges } from './exchanges.js'

/**
 * The feed's domain events (docs/feed.md#events-published), published to the `feed` exchange through the feed's
 * outbox in the transaction of the command itself: no event without its commit, no commit without its event. They
 * carry ids and times only, never rows: a consumer (the fan-out worker of part 2, notifications) reads what it needs
 * from its own read model or asks the feed, and a post's text never travels through queues it could outlive.
 * Each says what a fan-out worker needs without a lookup: who, what, and when (for last-writer-wins ordering: a
 * retried message may arrive after a later one, so a consumer compares these times, not arrival order).
 *
 * The AMQP message id of each event is its own UUID (consumers deduplicate by it, with their inbox). Messages of one
 * (follower, followee) or (post, liker) pair are enqueued with one ordering key, so the relay publishes a follow
 * before the unfollow that undid it.
 */

const Id = Type.String({ format: 'uuid' })
/** ISO 8601 with a zone, as Date#toISOString writes it (UTC, milliseconds). */
const Instant = Type.String({ format: 'date-time' })

export const PostCreatedV1 = Type.Object({
  /** UUIDv7: time-sortable, so feeds page on it. */
  postId: Id,
  authorId: Id,
  createdAt: Instant,
})
export type PostCreatedV1 = Static<typeof PostCreatedV1>

export const PostLikedV1 = Type.Object({
  postId: Id,
  /** The post's author: whom a notification of the like goes to. */
  authorId: Id,
  likerId: Id,
  likedAt: Instant,
})
export type PostLikedV1 = Static<typeof PostLikedV1>

export const PostUnlikedV1 = Type.Object({
  postId: Id,
  authorId: Id,
  likerId: Id,
  unlikedAt: Instant,
})
export type PostUnlikedV1 = Static<typeof PostUnlikedV1>

export const UserFollowedV1 = Type.Object({
  followerId: Id,
  followeeId: Id,
  followedAt: Instant,
})
export type UserFollowedV1 = Static<typeof UserFollowedV1>

export const UserUnfollowedV1 = Type.Object({
  followerId: Id,
  followeeId: Id,
  unfollowedAt: Instant,
})
export type UserUnfollowedV1 = Static<typeof UserUnfollowedV1>

export const postCreated = defineMessage({
  type: 'feed.post.created.v1',
  exchange: exchanges.feed,
  routingKey: 'post.created',
  schema: PostCreatedV1,
})

export const postLiked = defineMessage({
  type: 'feed.post.liked.v1',
  exchange: exchanges.feed,
  routingKey: 'post.liked',
  schema: PostLikedV1,
})

export const postUnliked = defineMessage({
  type: 'feed.post.unliked.v1',
  exchange: exchanges.feed,
  routingKey: 'post.unliked',
  schema: PostUnlikedV1,
})

export const userFollowed = defineMessage({
  type: 'feed.user.followed.v1',
  exchange: exchanges.feed,
  routingKey: 'user.followed',
  schema: UserFollowedV1,
})

export const userUnfollowed = defineMessage({
  type: 'feed.user.unfollowed.v1',
  exchange: exchanges.feed,
  routingKey: 'user.unfollowed',
  schema: UserUnfollowedV1,
})

/** Every domain event of the feed, for a consumer that binds `#` on the exchange (or a test's tap). */
export const feedEvents = [postCreated, postLiked, postUnliked, userFollowed, userUnfollowed] as const
