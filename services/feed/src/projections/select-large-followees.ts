import type { Queryable } from '@platform/db'

/**
 * The large accounts `userId` follows (more than FANOUT_MAX_FOLLOWERS followers: not fanned out), whose posts a
 * feed read merges in from their lists (timeline-store readAuthorPosts) or posts_author. One index-only range scan
 * of large_follows' primary key, never a join with follows: the worker keeps the table on follow and unfollow and
 * fills it when an author becomes large (docs/feed.md#fan-out-worker). Usually empty or a handful of ids.
 */
export async function selectLargeFollowees(db: Queryable, userId: string): Promise<string[]> {
  const rows = await db<{ author_id: string }[]>`
    select author_id from large_follows where user_id = ${userId}`
  return rows.map((r) => r.author_id)
}
