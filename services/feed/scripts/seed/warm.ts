import { randomUUID } from 'node:crypto'
import { feedOf, postIdOf, type SeedGraph } from './graph.js'
import type { Progress } from './progress.js'

/**
 * The Redis side of the seeded read model, written through the fan-out's own timeline store
 * (src/timelines/timeline-store.ts), never by key: the active users' timelines as a rebuild leaves them
 * (openTimeline, then completeTimeline with the newest entries of user_feed), and each large account's recent-posts
 * list (completeAuthorPosts); and the hot feed's hourly like buckets for the likes of the last day, through the
 * worker's own reconcile (timelines/hot-likes.ts). Idempotent, like those calls: a second warm-up leaves what the
 * first did.
 */
export interface TimelineWriter {
  /** FEED_TIMELINE_SIZE: the newest entries a timeline keeps. */
  readonly size: number
  openTimeline(userId: string): Promise<boolean>
  completeTimeline(userId: string, entries: readonly { postId: string; authorId: string }[]): Promise<void>
  completeAuthorPosts(authorId: string, postIds: readonly string[]): Promise<void>
}

/** What warmHotLikes needs of timelines/hot-likes.ts. */
export interface HotLikesWriter {
  reconcile(postId: string, likerId: string, likedAt: Date | undefined, now?: Date): Promise<number>
  /** A rebuild of the buckets begins, and ends whole: no worker rebuilds them again (queues/hot-likes-rebuild.ts). */
  beginRebuild(token: string): Promise<void>
  markComplete(token: string): Promise<boolean>
}

/** Calls in flight at once: enough to keep Redis busy over one connection (ioredis pipelines what is queued). */
const IN_FLIGHT = 64

export async function warmTimelines(
  graph: SeedGraph,
  store: TimelineWriter,
  progress: Progress,
): Promise<{ timelines: number; authorLists: number }> {
  const g = graph
  let next = 0
  let written = 0
  const total = g.active.length
  const worker = async () => {
    while (next < total) {
      const u = g.active[next++] as number
      const userId = g.userIds[u] as string
      const posts = feedOf(g, u).slice(-store.size)
      const entries = posts.map((k) => ({
        postId: postIdOf(g, k),
        authorId: g.userIds[g.postAuthor[k] as number] as string,
      }))
      await store.openTimeline(userId)
      await store.completeTimeline(userId, entries)
      written++
      progress.rows('redis timelines', written, total)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  progress.done('redis timelines', written)
  for (const a of g.largeAuthors) {
    const from = g.authorPostOffsets[a] as number
    const to = g.authorPostOffsets[a + 1] as number
    const newest = Array.from(g.authorPosts.subarray(Math.max(from, to - store.size), to), (k) => postIdOf(g, k))
    await store.completeAuthorPosts(g.userIds[a] as string, newest)
  }
  progress.done('redis large-author lists', g.largeAuthors.length)
  return { timelines: written, authorLists: g.largeAuthors.length }
}

/** Every like of the last 25 hours (the buckets the ranking reads) counted in the bucket of its hour. */
export async function warmHotLikes(graph: SeedGraph, hot: HotLikesWriter, progress: Progress): Promise<number> {
  const g = graph
  const token = randomUUID()
  await hot.beginRebuild(token)
  const now = new Date()
  const since = now.getTime() - 25 * 3_600_000
  const recent: [number, number][] = []
  for (let u = 0; u < g.userCount; u++) {
    for (let i = g.likeOffsets[u] as number; i < (g.likeOffsets[u + 1] as number); i++) {
      if ((g.likeMs[i] as number) >= since) recent.push([u, i])
    }
  }
  let next = 0
  let written = 0
  const worker = async () => {
    while (next < recent.length) {
      const [u, i] = recent[next++] as [number, number]
      const postId = postIdOf(g, g.likedPosts[i] as number)
      await hot.reconcile(postId, g.userIds[u] as string, new Date(g.likeMs[i] as number), now)
      written++
      progress.rows('redis hot-feed likes', written, recent.length)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  await hot.markComplete(token)
  progress.done('redis hot-feed likes', written)
  return written
}
