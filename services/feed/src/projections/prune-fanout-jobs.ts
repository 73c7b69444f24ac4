import type { Queryable } from '@platform/db'

/**
 * Deletes up to `limit` fan-out jobs finished more than `days` ago (fanout_jobs_finished index). A job's row only
 * matters while its post.created can still be redelivered or replayed; after that the table would grow by a row per
 * post for nothing. A post.created replayed after its job row is gone fans out again, which writes nothing new
 * (`on conflict do nothing`, ZADD). Returns how many.
 */
export async function pruneFanoutJobs(db: Queryable, days: number, limit: number): Promise<number> {
  const removed = await db`
    delete from fanout_jobs where post_id in (
      select post_id from fanout_jobs
      where finished_at is not null and finished_at < now() - make_interval(days => ${days})
      limit ${limit})`
  return removed.count
}
