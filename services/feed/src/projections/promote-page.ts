import type { Tx } from '@platform/db'

/**
 * One page of a large account's promotion, in the caller's transaction: locks the author's large_authors row (two
 * posts promoting at once take turns), copies the next `pageSize` followers after the cursor (follows_followee
 * order: newest follow first) into large_follows, and moves the cursor, or sets promoted_at after the last page.
 * One statement. Returns how many followers the page held; 0 once promoted.
 */
export async function promotePage(tx: Tx, authorId: string, pageSize: number, at: Date): Promise<number> {
  const [row] = await tx<{ copied: number }[]>`
    with job as (
      select author_id, cursor_created_at, cursor_follower_id from large_authors
      where author_id = ${authorId} and promoted_at is null
      for update
    ), page as (
      select f.follower_id, f.created_at from follows f, job
      where f.followee_id = job.author_id
        and (job.cursor_created_at is null
          or (f.created_at, f.follower_id) < (job.cursor_created_at, job.cursor_follower_id))
      order by f.created_at desc, f.follower_id desc
      limit ${pageSize}
    ), copied as (
      insert into large_follows (user_id, author_id) select follower_id, ${authorId}::uuid from page
      on conflict do nothing
    ), last as (
      select created_at, follower_id from page order by created_at, follower_id limit 1
    ), moved as (
      update large_authors set
        cursor_created_at = coalesce((select created_at from last), cursor_created_at),
        cursor_follower_id = coalesce((select follower_id from last), cursor_follower_id),
        promoted_at = case when (select count(*) from page) < ${pageSize} then ${at}::timestamptz end
      where author_id in (select author_id from job)
    )
    select (select count(*) from page)::int as copied`
  return row?.copied ?? 0
}
