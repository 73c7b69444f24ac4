import {
  HOT_BUCKET_TTL_HOURS,
  HOT_BUCKETS_COMPLETE_KEY,
  HOT_REBUILD_TOKEN_KEY,
  HOT_WINDOW_HOURS,
  hotLikersKey,
  hotLikesKey,
  hourOf,
} from './keys.js'
import { execPipeline, feedPipeline, type Redis, withFeedScripts } from './scripts.js'

/** A like as the likes row has it: who liked which post, and when. */
export interface StandingLike {
  postId: string
  likerId: string
  likedAt: Date
}

/**
 * The hot feed's hourly like buckets (keys.ts hotLikesKey, hotLikersKey), written by the worker's likes handler and
 * rebuilt by its hot-likes rebuild. One operation, reconcile: make a (post, liker) pair count exactly once, in the
 * bucket of the hour its like was made, or in none when there is no like now. Both post.liked and post.unliked call
 * it with the CURRENT state of the likes row (read under a lock, likes.ts), so it is idempotent and order-free: a
 * repeat changes nothing, and an unlike handled before its like (retries reorder them) still ends with the right
 * count.
 */
export function createHotLikes(client: Redis) {
  const redis = withFeedScripts(client)
  return {
    /**
     * `likedAt`: when the like standing now was made, or undefined when there is none. A like older than the window
     * counts nowhere. Returns the net change of the post's score (-1, 0, 1; more only if buckets disagreed). One
     * script call, over the window's 25 hours (the 24 the ranking reads and the one before, which a like made just
     * before an hour boundary may still be counted in while the ranking moves on).
     */
    async reconcile(postId: string, likerId: string, likedAt: Date | undefined, now = new Date()): Promise<number> {
      const current = hourOf(now)
      const hours = Array.from({ length: HOT_WINDOW_HOURS + 1 }, (_, i) => current - HOT_WINDOW_HOURS + i)
      // A like stamped a moment ahead of this clock (another machine's) counts in the current hour.
      const target = likedAt === undefined ? -1 : hours.indexOf(Math.min(hourOf(likedAt), current))
      const keys = hours.flatMap((h) => [hotLikesKey(h), hotLikersKey(h)])
      const expiries = hours.map((h) => (h + HOT_BUCKET_TTL_HOURS) * 3600)
      return redis.feedLikeReconcile(keys.length, ...keys, postId, `${postId}:${likerId}`, target, ...expiries)
    },

    /**
     * The rebuild's write (queues/hot-likes-rebuild.ts): each of `likes`, standing when the rebuild read them,
     * counted in the bucket of its hour unless it already is, in one pipeline; a like older than the window counts
     * nowhere. Only that hour, not reconcile's 25: the rebuild runs over lost buckets while the likes handlers wait,
     * and a pair a handler had counted elsewhere before it has an event still to come (the unlike or new like that
     * changed it), whose reconcile puts it right. Returns how many were counted now.
     */
    async restoreMany(likes: readonly StandingLike[], now = new Date()): Promise<number> {
      const current = hourOf(now)
      const pipeline = feedPipeline(redis)
      let queued = 0
      for (const { postId, likerId, likedAt } of likes) {
        const hour = Math.min(hourOf(likedAt), current)
        if (hour < current - HOT_WINDOW_HOURS) continue
        const expiry = (hour + HOT_BUCKET_TTL_HOURS) * 3600
        pipeline.feedLikeRestore(2, hotLikesKey(hour), hotLikersKey(hour), postId, `${postId}:${likerId}`, expiry)
        queued++
      }
      if (queued === 0) return 0
      const replies = await execPipeline(pipeline)
      return replies.reduce<number>((sum, counted) => sum + Number(counted), 0)
    },

    /** Whether the buckets are known to hold every like of the window (keys.ts HOT_BUCKETS_COMPLETE_KEY). */
    async isComplete(): Promise<boolean> {
      return (await redis.exists(HOT_BUCKETS_COMPLETE_KEY)) === 1
    },

    /**
     * A rebuild begins: its token is stored (keys.ts HOT_REBUILD_TOKEN_KEY), for markComplete to find at its end.
     * Before the rebuild's first write, so a Redis emptied after it has lost the token too.
     */
    async beginRebuild(token: string): Promise<void> {
      await redis.set(HOT_REBUILD_TOKEN_KEY, token, 'EX', 86_400)
    },

    /** The rebuild of `token` is whole: sets the marker, unless Redis lost the token meanwhile (then false). */
    async markComplete(token: string): Promise<boolean> {
      return (await redis.feedHotMarkComplete(2, HOT_REBUILD_TOKEN_KEY, HOT_BUCKETS_COMPLETE_KEY, token)) === 1
    },
  }
}

export type HotLikes = ReturnType<typeof createHotLikes>
