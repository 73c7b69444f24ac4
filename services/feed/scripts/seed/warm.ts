import { feedOf, postIdOf, type SeedGraph } from './graph.js'
import type { Progress } from './progress.js'

/**
 * The Redis side of the seeded read model, written through the fan-out's own timeline store
 * (src/timelines/timeline-store.ts), never by key: the active users' timelines as a rebuild leaves them
 * (openTimeline, then completeTimeline with the newest entries of user_feed), and each large account's recent-posts
 * list (completeAuthorPosts). Idempotent, like those calls: a second warm-up leaves what the first did. The hot
 * feed's like buckets are the worker's own rebuild from likes (seed-feed.ts, queues/hot-likes-rebuild.ts).
 */
export interface TimelineWriter {
  /** FEED_TIMELINE_SIZE: the newest entries a timeline keeps. */
  readonly size: number
  openTimeline(userId: string): Promise<boolean>
  completeTimeline(userId: string, entries: readonly { postId: string; authorId: string }[]): Promise<void>
  completeAuthorPosts(authorId: string, postIds: readonly string[]): Promise<void>
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
