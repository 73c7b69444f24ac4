import type { Queryable } from '@platform/db'

export interface PostFacts {
  id: string
  author_id: string
  created_at: Date
  deleted: boolean
}

/** What the fan-out needs of a post (never its text): whether it exists, is visible, and whose it is. */
export async function selectPost(db: Queryable, postId: string): Promise<PostFacts | undefined> {
  const [row] = await db<PostFacts[]>`
    select id, author_id, created_at, deleted_at is not null as deleted from posts where id = ${postId}`
  return row
}
