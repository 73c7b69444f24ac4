import type { Queryable } from '@platform/db'

export interface FeedBatch {
  postId: string
  authorId: string
  createdAt: Date
  followerIds: readonly string[]
}

/**
 * A fan-out batch into user_feed, ONE statement: a row per follower who still follows the author (an unfollow
 * since the page was read drops the follower here) or is the author (who sees their own posts); `on conflict do
 * nothing` makes a repeated batch write nothing. Returns who is entitled to the entry (what the Redis write adds to,
 * rows inserted before included: a batch repeated after a crash before its Redis write must still write it) and
 * how many rows were new.
 */
export async function insertFeedBatch(
  db: Queryable,
  batch: FeedBatch,
): Promise<{ recipients: string[]; inserted: number }> {
  const [row] = await db<{ recipients: string[]; inserted: number }[]>`
    with recipients as (
      select f.id from unnest(${batch.followerIds as string[]}::uuid[]) as f(id)
      where f.id = ${batch.authorId}::uuid
        or exists (select 1 from follows where follower_id = f.id and followee_id = ${batch.authorId})
    ), inserted as (
      insert into user_feed (user_id, post_id, author_id, created_at)
      select id, ${batch.postId}, ${batch.authorId}, ${batch.createdAt} from recipients
      on conflict do nothing
      returning 1
    )
    select coalesce(array_agg(id::text), '{}') as recipients, (select count(*) from inserted)::int as inserted
    from recipients`
  return { recipients: row?.recipients ?? [], inserted: row?.inserted ?? 0 }
}
