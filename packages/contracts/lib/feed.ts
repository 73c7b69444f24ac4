import { DEFAULT_RETRY, defineConsumer, defineMessage } from '@platform/messaging'
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

// -- the fan-out worker's own job messages and queues (docs/feed.md#fan-out-worker) ----------------------------

/** Followers per batch message, at most (the worker sends FEED_FANOUT_BATCH_SIZE, default 1,000). */
export const MAX_FANOUT_BATCH = 5_000

export const FanoutBatchV1 = Type.Object({
  postId: Id,
  authorId: Id,
  /** The post's creation time: the start of its fan-out lag (feed_fanout_lag_seconds). */
  createdAt: Instant,
  /** The followers whose feeds get the post: one page of follows_followee, ids only. */
  followerIds: Type.Array(Id, { minItems: 1, maxItems: MAX_FANOUT_BATCH }),
})
export type FanoutBatchV1 = Static<typeof FanoutBatchV1>

/**
 * The second stage of the fan-out of a post: one page of the author's followers, enqueued by the first stage
 * (the post.created job) through the feed's outbox in the transaction that moves its cursor. Ids only: the
 * consumer writes user_feed and the Redis timelines from them.
 */
export const fanoutBatch = defineMessage({
  type: 'feed.fanout.batch.v1',
  exchange: exchanges.feed,
  routingKey: 'fanout.batch',
  schema: FanoutBatchV1,
})

/** The worker's follow events: one queue, so a follow and its unfollow wait in one line (handlers still compare). */
export const FollowEventV1 = Type.Union([UserFollowedV1, UserUnfollowedV1])
export type FollowEventV1 = Static<typeof FollowEventV1>

/** The worker's like events. */
export const LikeEventV1 = Type.Union([PostLikedV1, PostUnlikedV1])
export type LikeEventV1 = Static<typeof LikeEventV1>

/**
 * feed worker, stage 1: each new post becomes one job that pages through the author's followers and enqueues
 * follower batches (or, for a large account, adds the post to the author's list). Few at once: each job holds a
 * connection while it pages, and a large account's promotion may page through a million followers.
 */
export const feedFanoutConsumer = defineConsumer({
  queue: 'feed.fanout',
  message: postCreated,
  bindings: [{ exchange: exchanges.feed, routingKey: 'post.created' }],
  retry: DEFAULT_RETRY,
  prefetch: 4,
  handlerTimeoutMs: 300_000,
})

/** feed worker, stage 2: one follower batch, one INSERT into user_feed and one Redis pipeline. */
export const feedFanoutBatchConsumer = defineConsumer({
  queue: 'feed.fanout-batch',
  message: fanoutBatch,
  bindings: [{ exchange: exchanges.feed, routingKey: 'fanout.batch' }],
  retry: DEFAULT_RETRY,
  prefetch: 8,
})

/**
 * feed worker: follows backfill the followee's recent posts into the follower's feed, unfollows remove them. Two
 * message types on one queue, told apart by the AMQP type: the definition names no single message, the worker
 * gives the union schema (FollowEventV1).
 */
export const feedFollowsConsumer = defineConsumer({
  queue: 'feed.follows',
  bindings: [
    { exchange: exchanges.feed, routingKey: 'user.followed' },
    { exchange: exchanges.feed, routingKey: 'user.unfollowed' },
  ],
  retry: DEFAULT_RETRY,
  // each holds a connection of the worker's pool (10) while it waits for the followee's lock
  prefetch: 8,
})

/** feed worker: likes and unlikes move the hot feed's hourly buckets (LikeEventV1). */
export const feedLikesConsumer = defineConsumer({
  queue: 'feed.likes',
  bindings: [
    { exchange: exchanges.feed, routingKey: 'post.liked' },
    { exchange: exchanges.feed, routingKey: 'post.unliked' },
  ],
  retry: DEFAULT_RETRY,
  prefetch: 50,
})
