import type { Queryable } from '@platform/db'

/** An author's newest `count` visible post ids, newest first (posts_author): a large account's list, rebuilt. */
export async function selectRecentPosts(db: Queryable, authorId: string, count: number): Promise<string[]> {
  const rows = await db<{ id: string }[]>`
    select id from posts where author_id = ${authorId} and deleted_at is null order by id desc limit ${count}`
  return rows.map((r) => r.id)
}
