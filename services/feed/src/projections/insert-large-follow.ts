import type { Queryable } from '@platform/db'

/** A follow of a large account: the follower's feed merges the author's posts from now on. Idempotent. */
export async function insertLargeFollow(db: Queryable, userId: string, authorId: string): Promise<void> {
  await db`insert into large_follows (user_id, author_id) values (${userId}, ${authorId}) on conflict do nothing`
}
