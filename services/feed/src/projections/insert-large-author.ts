import type { Queryable } from '@platform/db'

/** Marks the author a large account from now on (a second call changes nothing). True when it was new. */
export async function insertLargeAuthor(db: Queryable, authorId: string, at: Date): Promise<boolean> {
  const rows = await db`
    insert into large_authors (author_id, since) values (${authorId}, ${at}) on conflict do nothing returning 1`
  return rows.length === 1
}
