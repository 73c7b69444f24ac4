import type { Queryable } from '@platform/db'

export interface AuthorState {
  follower_count: number
  /** In large_authors: its posts are merged at read time, never fanned out. */
  large: boolean
  /** Every follower has its large_follows row (the promotion finished). */
  promoted: boolean
}

/** The author's follower count (kept by the follow commands) and whether it is a large account. One row. */
export async function selectAuthorState(db: Queryable, authorId: string): Promise<AuthorState | undefined> {
  const [row] = await db<AuthorState[]>`
    select u.follower_count::int as follower_count, la.author_id is not null as large,
      la.promoted_at is not null as promoted
    from users u left join large_authors la on la.author_id = u.id
    where u.id = ${authorId}`
  return row
}
