import type { Queryable } from '@platform/db'
import { postIdFloor } from '../posts/post-ids.js'
import type { TimelineEntry } from '../timelines/timeline-store.js'

/**
 * A follow's backfill, ONE statement: the followee's newest `count` visible posts since `since` (posts_author index,
 * post-ids.ts) into the
 * follower's user_feed, `on conflict do nothing` (a repeat, or posts a fan-out already brought). Returns all of
 * them (the Redis write adds them all: a repeat after a crash before it must still write) and how many were new.
 */
export async function backfillFeed(
  db: Queryable,
  followerId: string,
  followeeId: string,
  options: { count: number; since: Date },
): Promise<{ entries: TimelineEntry[]; inserted: number }> {
  const { count, since } = options
  const rows = await db<{ post_id: string; inserted: number }[]>`
    with recent as (
      select id, author_id, created_at from posts
      where author_id = ${followeeId} and id >= ${postIdFloor(since)} and deleted_at is null
      order by id desc
      limit ${count}
    ), inserted as (
      insert into user_feed (user_id, post_id, author_id, created_at)
      select ${followerId}, id, author_id, created_at from recent
      on conflict do nothing
      returning 1
    )
    select id as post_id, (select count(*) from inserted)::int as inserted from recent order by id desc`
  return {
    entries: rows.map((r) => ({ postId: r.post_id, authorId: followeeId })),
    inserted: rows[0]?.inserted ?? 0,
  }
}
