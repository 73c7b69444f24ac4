import type { Queryable } from '@platform/db'

/** A large account's post in its own user_feed (its followers merge it at read time instead). Idempotent. */
export async function insertOwnEntry(
  db: Queryable,
  post: { postId: string; authorId: string; createdAt: Date },
): Promise<number> {
  const rows = await db`
    insert into user_feed (user_id, post_id, author_id, created_at)
    values (${post.authorId}, ${post.postId}, ${post.authorId}, ${post.createdAt})
    on conflict do nothing`
  return rows.count
}
