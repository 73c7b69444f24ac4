import type { Queryable } from '@platform/db'
import type { StandingLike } from '../timelines/hot-likes.js'

/**
 * Every like standing now that was made at `since` or later (the hot feed's window), in pages of `pageSize`, read
 * by one cursor (one statement, one snapshot: a like committed meanwhile is its handler's to count). The BRIN
 * index likes_created_at (migration 0013) finds the window's block ranges.
 */
export async function forEachWindowLike(
  db: Queryable,
  since: Date,
  pageSize: number,
  page: (likes: StandingLike[]) => Promise<void>,
): Promise<void> {
  // The iterator, not cursor(n, callback): postgres.js does not await the callback of the last, partial page (it
  // resolves the query at CommandComplete), which would let the transaction, and its lock, end before its writes.
  const rows = db<{ post_id: string; user_id: string; created_at: Date }[]>`
    select post_id, user_id, created_at from likes where created_at >= ${since}`.cursor(pageSize)
  for await (const batch of rows) {
    await page(batch.map((r) => ({ postId: r.post_id, likerId: r.user_id, likedAt: r.created_at })))
  }
}
