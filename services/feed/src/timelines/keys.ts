import { shardTag, userTag } from '../shards.js'

/**
 * Every Redis key of the feed, and the shape of what it holds: the ONE module that knows them (docs/feed.md#read-
 * model-and-shards). Nothing else in the feed writes a key by hand.
 *
 * REDIS_PREFIX: the names below are without it. The service's client (createRedis of @platform/http) has it as its
 * ioredis `keyPrefix` and puts it in front of every key it sends, the KEYS of scripts included; tests isolate by it.
 * A script never builds a key itself (it would miss the prefix and, in a cluster, the slot): every key it touches
 * comes in KEYS. The prefix must hold no `{`, or it would become the hash tag.
 *
 * Hash tags: a per-user key carries its user's shard tag (`{s07}`, shards.ts); a per-author key its author's (an
 * author is a user). The hot-feed keys share one tag, `{hot}`: the ranking sums 24 hourly buckets in one
 * ZUNIONSTORE, which Redis Cluster only allows within one slot (the hot feed is one small, global structure).
 */

/**
 * Lexicographic sorted sets. The timelines and author lists below hold every member with score 0, so Redis orders
 * them by their bytes (https://redis.io/docs/latest/commands/zrangebylex/): post ids are UUIDv7 in lower-case text,
 * whose byte order is time order, so the newest is last and a page newest first below a cursor is
 * `ZRANGE key (<cursor> (! BYLEX REV LIMIT 0 <n>` (timeline-store.ts readTimeline). Two marker members sort
 * before every post id and are never part of a page:
 *   ""  (COMPLETE)  the set holds everything its owner should have in the window: it may be served;
 *   "!" (BUILDING)  a rebuild from PostgreSQL is under way: writes land, reads must not trust it yet.
 * A set without COMPLETE is not served; a missing key is a miss (rebuild from PostgreSQL).
 */
export const COMPLETE = ''
export const BUILDING = '!'
/** The lowest bound of a page: exclusive of BUILDING, so both markers ("" < "!") stay out. */
export const PAGE_MIN = `(${BUILDING}`

/**
 * A user's personal timeline, newest FEED_TIMELINE_SIZE entries (default 800), trimmed on every write.
 * Sorted set, score 0, members `<postId>:<authorId>` (the author lets an unfollow remove the followee's entries in
 * Redis alone, and the merge tell authors apart), plus the markers above.
 * TTL: FEED_ACTIVE_DAYS, refreshed by every read (readTimeline), never by a write. A user who has not read for that
 * long loses the key, and the fan-out writes only to keys that exist: inactive users cost no Redis writes, and their
 * next read rebuilds from user_feed.
 */
export function timelineKey(userId: string): string {
  return `feed:${userTag(userId)}:tl:${userId}`
}

/** A timeline member: what readTimeline parses back. */
export function timelineMember(postId: string, authorId: string): string {
  return `${postId}:${authorId}`
}

/**
 * A large account's newest posts (more than FANOUT_MAX_FOLLOWERS followers: not fanned out, merged into its
 * followers' feeds at read time). Sorted set, score 0, members `<postId>` plus the COMPLETE marker, the newest
 * FEED_TIMELINE_SIZE kept. Written by the worker when such an author posts (rebuilt by it from posts_author when
 * missing, so the list is complete whenever COMPLETE is in it). No TTL: large accounts are few. Missing (a flushed
 * Redis): a read falls back to posts_author (0004), which holds the same posts.
 */
export function authorPostsKey(authorId: string): string {
  return `feed:${userTag(authorId)}:ap:${authorId}`
}

// -- hot feed: likes per post in hourly buckets (a sliding window of 24) --------------------------------------

/** The hot feed's tag: every key below is in one slot (ZUNIONSTORE of the buckets). */
export const HOT_TAG = '{hot}'
/** Hourly buckets summed by the ranking. */
export const HOT_WINDOW_HOURS = 24
/** A bucket lives one hour past the window, so a ranking computed at the end of an hour still finds its oldest. */
export const HOT_BUCKET_TTL_HOURS = HOT_WINDOW_HOURS + 1

/** The bucket (hours since the epoch, UTC) a time falls in. */
export function hourOf(at: Date | number): number {
  return Math.floor((typeof at === 'number' ? at : at.getTime()) / 3_600_000)
}

/**
 * Likes made in one hour that still stand. Sorted set: member `<postId>`, score the number of likes of that post
 * made in hour `hour` and not undone since (a member at 0 is removed). Expires HOT_BUCKET_TTL_HOURS after its hour
 * began.
 *
 * The hot feed's score of a post = the sum of its scores in the buckets of the last 24 hours, the current one
 * included (hotBucketKeys): `ZUNIONSTORE <dest> 24 <hotBucketKeys(now)...> AGGREGATE SUM`. The window slides by
 * the hour: it covers between 23 and 24 hours of likes. Ties: equal scores sort by member, the post id (time order).
 */
export function hotLikesKey(hour: number): string {
  return `feed:${HOT_TAG}:likes:${hour}`
}

/**
 * Which likes are counted in hour `hour`'s bucket: a hash, field `<postId>:<likerId>`, value "1". What makes the
 * bucket idempotent (a like counted twice is one field) and lets an unlike find the bucket its like was counted in
 * (the unlike event does not say when the like was made). Same TTL as its bucket.
 */
export function hotLikersKey(hour: number): string {
  return `feed:${HOT_TAG}:likers:${hour}`
}

/**
 * Present (string "1", no TTL) once the buckets hold every like of the window: set by the worker's rebuild from
 * `likes` (queues/hot-likes-rebuild.ts) and by the seed. A new or emptied Redis (a flush, a restart without
 * persistence, a failover to an empty replica) has lost it with the buckets, and that is how the worker knows to
 * rebuild them. Deleting it by hand asks for a rebuild (docs/runbooks/feed.md).
 */
export const HOT_BUCKETS_COMPLETE_KEY = `feed:${HOT_TAG}:buckets-complete`

/**
 * The rebuild under way: a random token of the worker rebuilding (string, EX one day). The marker above is set
 * only by the holder of the token it finds here (feedHotMarkComplete): a Redis emptied while a rebuild ran has lost
 * the token too, and that rebuild, incomplete now, sets no marker.
 */
export const HOT_REBUILD_TOKEN_KEY = `feed:${HOT_TAG}:rebuild`

/**
 * A rebuild's copy of hour `hour`'s bucket and likers (same shapes as hotLikesKey, hotLikersKey), written while the
 * rebuild reads `likes` and renamed over the live pair at its end (scripts.ts feedHotSwapRebuilt), so the hot feed
 * ranks by the old buckets until then and the rebuild starts from empty ones whatever Redis kept. Expires two hours
 * after the rebuild began (its read is bounded by one hour); a rebuild that fails or is refused drops its copies
 * (hot-likes.ts dropCopies), and a crashed one leaves them for those two hours at most.
 */
export function hotStagedLikesKey(token: string, hour: number): string {
  return `feed:${HOT_TAG}:rebuild:${token}:likes:${hour}`
}

/** The likers of hotStagedLikesKey(token, hour). */
export function hotStagedLikersKey(token: string, hour: number): string {
  return `feed:${HOT_TAG}:rebuild:${token}:likers:${hour}`
}

/**
 * The hours whose buckets the worker writes at `now`, oldest first: the 24 the ranking reads and the one before,
 * which a like made just before an hour boundary may still be counted in while the ranking moves on.
 */
export function hotLiveHours(now: Date | number): number[] {
  const current = hourOf(now)
  return Array.from({ length: HOT_WINDOW_HOURS + 1 }, (_, i) => current - HOT_WINDOW_HOURS + i)
}

/** When hour `hour`'s bucket and likers expire (unix seconds): HOT_BUCKET_TTL_HOURS after the hour began. */
export function hotBucketExpiry(hour: number): number {
  return (hour + HOT_BUCKET_TTL_HOURS) * 3600
}

/** The buckets of the window at `now`, newest first: the ZUNIONSTORE keys of the ranking. */
export function hotBucketKeys(now: Date | number = Date.now()): string[] {
  const current = hourOf(now)
  return Array.from({ length: HOT_WINDOW_HOURS }, (_, i) => hotLikesKey(current - i))
}

// -- hot feed: cache, ranking snapshots, recompute lock (GET /v1/feed/hot) ------------------------------------
// Added by the reads work (branch wt-reads): the cached ranking, its snapshots for cursors, and the stampede
// guard's lock. Keep them under HOT_TAG when a script touches them with the buckets above.
// queries/hot-cache.ts says how they work together; docs/feed.md#hot-feed why the lifetimes are what they are.

/**
 * A computed ranking: a list `[header, item, item, ...]`, the header `{"computed_at", "size"}` JSON, each item the
 * JSON of one HotItemView in rank order. A cursor names it by `id` (base-36 ms, a dash, 8 hex digits). TTL
 * FEED_HOT_SNAPSHOT_TTL_S, renewed by every page read: it lives as long as someone scrolls it.
 */
export function hotSnapshotKey(id: string): string {
  return `feed:${HOT_TAG}:snap:${id}`
}

/** The current snapshot's id (string). TTL FEED_HOT_SNAPSHOT_TTL_S from its computation: the version served stale. */
export const HOT_POINTER_KEY = `feed:${HOT_TAG}:current`

/** The current snapshot's id while it is fresh (string). TTL FEED_HOT_CACHE_TTL_S: gone means "recompute". */
export const HOT_FRESH_KEY = `feed:${HOT_TAG}:fresh`

/** The recompute lock: a random token of its holder (string). PX FEED_HOT_LOCK_LEASE_MS, SET NX; compare-and-delete. */
export const HOT_LOCK_KEY = `feed:${HOT_TAG}:lock`

/** The ZUNIONSTORE destination of one recompute, deleted in the same MULTI (a token per recompute). */
export function hotScratchKey(token: string): string {
  return `feed:${HOT_TAG}:scratch:${token}`
}

/** Shard tags in order, for an operator's or a test's per-shard loop (SCAN MATCH `feed:{s07}:*`). */
export function shardKeyPattern(shard: number): string {
  return `feed:${shardTag(shard)}:*`
}
