import type { Queryable } from '@platform/db'

/** An unfollow of a large account: its posts are no longer merged into the follower's feed. Idempotent. */
export async function deleteLargeFollow(db: Queryable, userId: string, authorId: string): Promise<void> {
  await db`delete from large_follows where user_id = ${userId} and author_id = ${authorId}`
}
