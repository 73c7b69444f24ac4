import { groupByShard } from '../shards.js'
import { authorPostsKey, PAGE_MIN, timelineKey, timelineMember } from './keys.js'
import { execPipeline, type FeedRedis, feedPipeline, type Redis, withFeedScripts } from './scripts.js'

/**
 * The Redis side of the personal feed (keys.ts has the key shapes): users' timelines and large accounts' recent
 * posts, sorted newest first by post id. Written by the fan-out worker (addToTimelines, removeAuthor,
 * addAuthorPost, completeAuthorPosts); read by GET /v1/feed (readTimeline, readAuthorPosts), which rebuilds a
 * missing timeline from user_feed (openTimeline, then completeTimeline).
 *
 * Activity (FEED_ACTIVE_DAYS): a timeline's TTL. readTimeline refreshes it; writes never do. A user who has not
 * read for that long loses the key, the worker writes only to timelines that exist, and the next read rebuilds.
 * So a read IS the activity signal: there is nothing else to call.
 *
 * Rebuild, in this order (the order is what loses no entry to a fan-out running at the same moment):
 *   1. openTimeline(userId): the key now exists (BUILDING), so every fan-out batch from here on writes to it;
 *   2. read the newest FEED_TIMELINE_SIZE rows of user_feed (what every batch committed before that wrote there);
 *   3. completeTimeline(userId, entries): merges them in and marks the set COMPLETE.
 * A batch commits to PostgreSQL before it writes Redis, so it is in step 2's read or its write finds the key of
 * step 1. A rebuild that fails between 1 and 3 leaves a BUILDING set, which reads treat as a miss until it expires
 * or the next rebuild completes it (call dropTimeline to be quicker).
 */
export interface TimelineEntry {
  postId: string
  authorId: string
}

export interface PageOptions {
  /** Exclusive: entries with a smaller post id only (the keyset cursor). Absent: from the newest. */
  before?: string
  limit: number
}

export type TimelinePage =
  /** A complete timeline: `entries` newest first; `size` the entries it holds in all (its window). */
  | { state: 'complete'; entries: TimelineEntry[]; size: number }
  /** Missing (an inactive or new user, a flushed Redis) or still being rebuilt: read user_feed. */
  | { state: 'missing' | 'building' }

export interface TimelineStoreOptions {
  /** FEED_TIMELINE_SIZE: the newest entries kept per timeline and per author list. */
  size: number
  /** FEED_ACTIVE_DAYS: a timeline not read for this long expires. */
  activeDays: number
}

export function createTimelineStore(client: Redis, options: TimelineStoreOptions) {
  const redis: FeedRedis = withFeedScripts(client)
  const ttlMs = options.activeDays * 86_400_000
  const { size } = options

  return {
    size,

    /**
     * Adds `entries` to the timeline of each of `userIds` that exists (active users), trimmed to `size`: one
     * pipeline, one script call per shard (the keys of a shard share a slot). Returns how many timelines were
     * written. Idempotent.
     */
    async addToTimelines(userIds: readonly string[], entries: readonly TimelineEntry[]): Promise<number> {
      if (userIds.length === 0 || entries.length === 0) return 0
      const members = entries.map((e) => timelineMember(e.postId, e.authorId))
      const pipeline = feedPipeline(redis)
      for (const users of groupByShard(userIds, (id) => id).values()) {
        pipeline.feedAdd(users.length, ...users.map(timelineKey), size, ...members)
      }
      const replies = await execPipeline(pipeline)
      return replies.reduce<number>((sum, n) => sum + Number(n), 0)
    },

    /** Removes every entry of `authorId` from `userId`'s timeline (an unfollow). Returns how many. Idempotent. */
    async removeAuthor(userId: string, authorId: string): Promise<number> {
      return redis.feedRemoveAuthor(1, timelineKey(userId), `:${authorId}`)
    },

    /**
     * A page of `userId`'s timeline, newest first, below `before`; refreshes the timeline's TTL (the read marks the
     * user active). One round trip. A page shorter than `limit` from a timeline whose `size` is the store's size
     * may continue in user_feed (the window ends there).
     */
    async readTimeline(userId: string, page: PageOptions): Promise<TimelinePage> {
      const reply = await redis.feedPage(1, timelineKey(userId), maxOf(page.before), PAGE_MIN, page.limit, ttlMs)
      return pageOf(reply, parseTimelineMember)
    },

    /** Rebuild, step 1 (see above). True when the timeline was complete already (nothing to rebuild). */
    async openTimeline(userId: string): Promise<boolean> {
      return (await redis.feedOpen(1, timelineKey(userId), ttlMs)) === 1
    },

    /** Rebuild, step 3: merges `entries` (user_feed's newest) and marks the timeline complete, with its TTL. */
    async completeTimeline(userId: string, entries: readonly TimelineEntry[]): Promise<void> {
      const members = entries.map((e) => timelineMember(e.postId, e.authorId))
      await redis.feedComplete(1, timelineKey(userId), size, ttlMs, ...members)
    },

    /** Deletes a user's timeline (a failed rebuild; tests). */
    async dropTimeline(userId: string): Promise<void> {
      await redis.del(timelineKey(userId))
    },

    /**
     * Adds a large account's new post to its list if the list exists. False when it does not: the caller rebuilds
     * it with completeAuthorPosts from posts_author (which holds the post too).
     */
    async addAuthorPost(authorId: string, postId: string): Promise<boolean> {
      return (await redis.feedAdd(1, authorPostsKey(authorId), size, postId)) === 1
    },

    /** Merges `postIds` (the author's newest, from posts_author) into the author's list and marks it complete. */
    async completeAuthorPosts(authorId: string, postIds: readonly string[]): Promise<void> {
      await redis.feedComplete(1, authorPostsKey(authorId), size, 0, ...postIds)
    },

    /**
     * A page of each large author's posts, newest first, below `before`: one pipeline for all of them. An author
     * whose list is missing maps to undefined (read posts_author for that one). The merge takes the newest `limit`
     * of the union; an author whose page is shorter than `limit` while their list holds `size` posts may have older
     * ones in posts_author.
     */
    async readAuthorPosts(
      authorIds: readonly string[],
      page: PageOptions,
    ): Promise<Map<string, { postIds: string[]; size: number } | undefined>> {
      const result = new Map<string, { postIds: string[]; size: number } | undefined>()
      if (authorIds.length === 0) return result
      const pipeline = feedPipeline(redis)
      for (const authorId of authorIds) {
        pipeline.feedPage(1, authorPostsKey(authorId), maxOf(page.before), PAGE_MIN, page.limit, 0)
      }
      const replies = await execPipeline(pipeline)
      authorIds.forEach((authorId, i) => {
        const read = pageOf(replies[i] as (number | string)[], (m) => m)
        result.set(authorId, read.state === 'complete' ? { postIds: read.entries, size: read.size } : undefined)
      })
      return result
    },
  }
}

export type TimelineStore = ReturnType<typeof createTimelineStore>

/** The ZRANGE BYLEX upper bound of a page: exclusive of the cursor, or everything. */
function maxOf(before: string | undefined): string {
  return before === undefined ? '+' : `(${before}`
}

/** `<postId>:<authorId>` (keys.ts timelineMember). */
export function parseTimelineMember(member: string): TimelineEntry {
  const at = member.indexOf(':')
  return { postId: member.slice(0, at), authorId: member.slice(at + 1) }
}

function pageOf<T>(
  reply: (number | string)[],
  parse: (member: string) => T,
): { state: 'complete'; entries: T[]; size: number } | { state: 'missing' | 'building' } {
  const [state, count, ...members] = reply
  if (Number(state) === 0) return { state: 'missing' }
  if (Number(state) === 2) return { state: 'building' }
  return { state: 'complete', entries: members.map((m) => parse(String(m))), size: Number(count) }
}
