import type { Queryable } from '@platform/db'

/** Marks a post's job finished (a large account's post, which has no pages; a withdrawn post). */
export async function finishFanoutJob(db: Queryable, postId: string, at: Date): Promise<void> {
  await db`update fanout_jobs set finished_at = ${at} where post_id = ${postId} and finished_at is null`
}
