import { randomBytes } from 'node:crypto'
import { HOT_WINDOW_HOURS, hotBucketKeys, hotLikesKey, hotScratchKey, hourOf } from '../timelines/keys.js'
import { execPipeline, type Redis } from '../timelines/scripts.js'
import type { FeedRepository } from './feed-repository.js'
import type { HotItemView } from './feed-views.js'

/**
 * The hot feed's ranking (docs/feed.md#hot-feed): score = likes in the last 24 hours, from the hourly like buckets
 * the worker keeps (timelines/keys.ts hotLikesKey). A sliding window over hourly buckets: the 24 buckets of the
 * current hour and the 23 before it count in full, and the bucket of the hour 24 hours back counts by the share of
 * it still inside the window (at 10:15, 0.75 of the 09:00 bucket of yesterday): the likes of that hour taken as
 * spread evenly over it, the usual sliding-window counter. A like is thus out of the ranking 24 to 25 hours after
 * it was made, and the score moves smoothly instead of dropping a whole hour at once.
 *
 * One Redis round trip (MULTI: ZUNIONSTORE with the weights into a scratch key, the top `size` by score, DEL) and
 * one SQL statement for the posts and authors of the whole ranking. Equal scores are ordered by member, the post
 * id, descending (ZRANGE ... REV): the newer post first, a total order, so the ranking is stable. Deleted and
 * unknown posts drop out in the SQL.
 */
export interface HotRankingOptions {
  redis: Redis
  repository: FeedRepository
  /** How many posts a ranking holds: how far a client can scroll the hot feed. */
  size: number
  now?: () => Date
}

/** Scores are sums of weighted counts; two decimals are all a client needs to see. */
const round = (score: number) => Math.round(score * 100) / 100

export function createHotRanking(options: HotRankingOptions): () => Promise<string[]> {
  const { redis, repository, size } = options
  return async function computeHotRanking(): Promise<string[]> {
    const now = (options.now?.() ?? new Date()).getTime()
    const intoHour = (now % 3_600_000) / 3_600_000
    const buckets = [...hotBucketKeys(now), hotLikesKey(hourOf(now) - HOT_WINDOW_HOURS)]
    const weights = [...buckets.slice(0, -1).map(() => 1), 1 - intoHour]
    const scratch = hotScratchKey(randomBytes(8).toString('hex'))
    const [, flat] = (await execPipeline(
      redis
        .multi()
        .zunionstore(scratch, buckets.length, ...buckets, 'WEIGHTS', ...weights, 'AGGREGATE', 'SUM')
        // Only posts with likes left in the window (a score the weights bring near 0 is not a like).
        .zrange(scratch, '+inf', '(0', 'BYSCORE', 'REV', 'LIMIT', 0, size, 'WITHSCORES')
        .del(scratch),
    )) as [number, string[], number]
    const ranked: { id: string; score: number }[] = []
    for (let i = 0; i < flat.length; i += 2) ranked.push({ id: flat[i] as string, score: Number(flat[i + 1]) })
    const posts = await repository.hydrate(ranked.map((r) => r.id))
    const byId = new Map(posts.map((p) => [p.post.id, p]))
    const items: string[] = []
    for (const { id, score } of ranked) {
      const post = byId.get(id)
      if (!post) continue
      const item: HotItemView = {
        post: post.post,
        author: post.author,
        like_count: post.like_count,
        score: round(score),
      }
      items.push(JSON.stringify(item))
    }
    return items
  }
}
