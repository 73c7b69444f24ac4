import type { Queryable } from '@platform/db'

/**
 * Deletes up to `limit` user_feed entries of one partition created before `before` (docs/feed.md#retention), found
 * through the BRIN index on created_at (0012) and deleted by their row address: one short statement, no long lock.
 * Per partition, because a statement on the parent with a subquery would run that subquery against each of the 16
 * partitions. The partition names come from readFeedPartitions; they are identifiers of the schema, never input.
 * Returns how many rows went.
 */
export async function pruneFeedEntries(db: Queryable, partition: string, before: Date, limit: number): Promise<number> {
  const removed = await db`
    delete from ${db(partition)} where ctid = any(array(
      select ctid from ${db(partition)} where created_at < ${before} limit ${limit}))`
  return removed.count
}

/** The partitions of user_feed (the read model's logical shards, 0010), in the service's schema. */
export async function readFeedPartitions(db: Queryable): Promise<string[]> {
  const rows = await db<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'user_feed'::regclass order by c.relname`
  return rows.map((r) => r.name)
}
