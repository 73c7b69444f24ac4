import type { Queryable } from '@platform/db'

/**
 * The fan-out job of a post, created once; true when it has finished already. The job row is the stage's record
 * of what it did, keyed by the post (not the message): a redelivered post.created, or the same event published
 * again under another message id, finds it and stops, or resumes at its cursor. One statement (a row inserted
 * here is not visible to the union's second half, which reads the statement's snapshot).
 */
export async function startFanoutJob(db: Queryable, postId: string, authorId: string): Promise<{ finished: boolean }> {
  const [row] = await db<{ finished: boolean }[]>`
    with inserted as (
      insert into fanout_jobs (post_id, author_id) values (${postId}, ${authorId}) on conflict do nothing
      returning finished_at
    )
    select finished_at is not null as finished from inserted
    union all
    select finished_at is not null from fanout_jobs where post_id = ${postId}
    limit 1`
  return { finished: row?.finished ?? false }
}
