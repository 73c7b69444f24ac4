import type { Queryable } from '@platform/db'

/** An unfollow: every entry of `authorId` leaves `userId`'s user_feed (user_feed_author index). Returns how many. */
export async function deleteAuthorEntries(db: Queryable, userId: string, authorId: string): Promise<number> {
  const removed = await db`delete from user_feed where user_id = ${userId} and author_id = ${authorId}`
  return removed.count
}
