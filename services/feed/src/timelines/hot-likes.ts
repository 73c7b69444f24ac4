import {
  HOT_BUCKETS_COMPLETE_KEY,
  HOT_REBUILD_TOKEN_KEY,
  HOT_WINDOW_HOURS,
  hotBucketExpiry,
  hotLikersKey,
  hotLikesKey,
  hotLiveHours,
  hotStagedLikersKey,
  hotStagedLikesKey,
  hourOf,
} from './keys.js'
import { execPipeline, feedPipeline, type Redis, withFeedScripts } from './scripts.js'

/** The rebuild's copies outlive its read of `likes` (bounded by one hour, hot-likes-rebuild.ts), then go. */
const STAGED_TTL_S = 2 * 3600

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
      const hours = hotLiveHours(now)
      // A like stamped a moment ahead of this clock (another machine's) counts in the current hour.
      const target = likedAt === undefined ? -1 : hours.indexOf(Math.min(hourOf(likedAt), current))
      const keys = hours.flatMap((h) => [hotLikesKey(h), hotLikersKey(h)])
      const expiries = hours.map(hotBucketExpiry)
      return redis.feedLikeReconcile(keys.length, ...keys, postId, `${postId}:${likerId}`, target, ...expiries)
    },

    /**
     * The rebuild's write (queues/hot-likes-rebuild.ts): each of `likes`, standing when the rebuild read them,
     * counted once in the bucket of its hour in the rebuild's copies of the buckets (keys.ts hotStagedLikesKey), in
     * one pipeline; a like older than the window counts nowhere. Copies, not the live buckets: whatever Redis kept
     * of them (a bucket evicted without its likers, a like counted in another hour) cannot be counted twice, and the
     * hot feed ranks by the old buckets until swapRebuilt. Adds to `counted` (hour -> likes counted in its copy)
     * what this page counted, which swapRebuilt checks the copies against.
     */
    async restoreMany(
      token: string,
      likes: readonly StandingLike[],
      counted: Map<number, number>,
      now = new Date(),
    ): Promise<void> {
      const current = hourOf(now)
      const expiry = Math.floor(now.getTime() / 1000) + STAGED_TTL_S
      const pipeline = feedPipeline(redis)
      const hours: number[] = []
      for (const { postId, likerId, likedAt } of likes) {
        // A like stamped a moment ahead of this clock (another machine's) counts in the current hour.
        const hour = Math.min(hourOf(likedAt), current)
        if (hour < current - HOT_WINDOW_HOURS) continue
        const [likesKey, likersKey] = [hotStagedLikesKey(token, hour), hotStagedLikersKey(token, hour)]
        pipeline.feedLikeRestore(2, likesKey, likersKey, postId, `${postId}:${likerId}`, expiry)
        hours.push(hour)
      }
      if (hours.length === 0) return
      const replies = await execPipeline(pipeline)
      replies.forEach((reply, i) => {
        const hour = hours[i] as number
        counted.set(hour, (counted.get(hour) ?? 0) + Number(reply))
      })
    },

    /**
     * The rebuild's copies of the window's 25 buckets (the 24 the ranking reads and the one before) replace the live
     * ones in one step, unless Redis lost the rebuild's token or part of a copy (an eviction: a copy's likers are not
     * what `counted` says restoreMany counted into it); then `swapped` is false and the live buckets are as they
     * were. `restored`: the net change in likes counted, i.e. what Redis had lost. Called while the rebuild still
     * holds the buckets' lock, so no handler's write falls between it and the rebuild's read.
     */
    async swapRebuilt(
      token: string,
      counted: ReadonlyMap<number, number>,
      now = new Date(),
    ): Promise<{ swapped: boolean; restored: number; reason?: 'token lost' | 'copy incomplete' }> {
      const hours = hotLiveHours(now)
      const keys = hours.flatMap((h) => [
        hotLikesKey(h),
        hotLikersKey(h),
        hotStagedLikesKey(token, h),
        hotStagedLikersKey(token, h),
      ])
      const expiries = hours.map(hotBucketExpiry)
      const expected = hours.map((h) => counted.get(h) ?? 0)
      const [swapped, restored] = await redis.feedHotSwapRebuilt(
        keys.length + 1,
        HOT_REBUILD_TOKEN_KEY,
        ...keys,
        token,
        ...expiries,
        ...expected,
      )
      if (swapped === 1) return { swapped: true, restored }
      return { swapped: false, restored: 0, reason: swapped === 0 ? 'token lost' : 'copy incomplete' }
    },

    /** Drops a rebuild's copies (a rebuild that failed or was refused): UNLINK, freed in the background. */
    async dropCopies(token: string, now = new Date()): Promise<void> {
      const keys = hotLiveHours(now).flatMap((h) => [hotStagedLikesKey(token, h), hotStagedLikersKey(token, h)])
      await redis.unlink(...keys)
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
