import type { Queryable } from '@platform/db'

/** When `likerId` liked `postId`, if they like it now (the likes row the like command keeps). */
export async function selectLike(db: Queryable, likerId: string, postId: string): Promise<Date | undefined> {
  const [row] = await db<{ created_at: Date }[]>`
    select created_at from likes where user_id = ${likerId} and post_id = ${postId}`
  return row?.created_at
}
