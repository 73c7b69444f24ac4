import type { Tx } from '@platform/db'

export interface FanoutPage {
  /** The followers of this page, newest follow first; empty once the job has finished. */
  followerIds: string[]
  /** False when the job had already finished (nothing was read). */
  open: boolean
  /** This was the first page (the author's own feed goes with it). */
  first: boolean
}

/**
 * The next page of a post's fan-out, in the caller's transaction: locks the job's row (a second delivery of the
 * same post waits, then continues after this page), reads `pageSize` followers after the cursor from
 * follows_followee (keyset, newest follow first), and moves the cursor (or finishes the job after a short page).
 * The caller enqueues the batch message in the same transaction: the cursor and the batch commit together, so a
 * crash between pages neither skips nor repeats one. One statement.
 */
export async function nextFanoutPage(tx: Tx, postId: string, pageSize: number, at: Date): Promise<FanoutPage> {
  const rows = await tx<{ follower_id: string | null; first: boolean; open: boolean }[]>`
    with job as (
      select post_id, author_id, cursor_created_at, cursor_follower_id, batches from fanout_jobs
      where post_id = ${postId} and finished_at is null
      for update
    ), page as (
      select f.follower_id, f.created_at from follows f, job
      where job.author_id = f.followee_id
        and (job.cursor_created_at is null
          or (f.created_at, f.follower_id) < (job.cursor_created_at, job.cursor_follower_id))
      order by f.created_at desc, f.follower_id desc
      limit ${pageSize}
    ), last as (
      select created_at, follower_id from page order by created_at, follower_id limit 1
    ), moved as (
      update fanout_jobs set
        cursor_created_at = coalesce((select created_at from last), cursor_created_at),
        cursor_follower_id = coalesce((select follower_id from last), cursor_follower_id),
        -- batch messages enqueued: this page's, or the first page's (which carries the author) even when empty
        batches = batches + case when (select count(*) from page) > 0 or batches = 0 then 1 else 0 end,
        followers = followers + (select count(*) from page),
        finished_at = case when (select count(*) from page) < ${pageSize} then ${at}::timestamptz end
      where post_id in (select post_id from job)
      returning 1
    )
    select page.follower_id, job.batches = 0 as first, (select count(*) from moved) = 1 as open
    from job left join page on true`
  return {
    followerIds: rows.flatMap((r) => (r.follower_id ? [r.follower_id] : [])),
    open: rows[0]?.open ?? false,
    first: rows[0]?.first ?? false,
  }
}
