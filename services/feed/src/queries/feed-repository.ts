import type { Queryable, Sql } from '@platform/db'
import { postIdFloor, retentionStart } from '../posts/post-ids.js'
import type { TimelineEntry } from '../timelines/timeline-store.js'
import type { FeedItemView } from './feed-views.js'

/**
 * The SQL of the feeds' reads (docs/feed.md#personal-feed): each page is ONE statement that finds the page's posts
 * and brings their text, authors, like counts and the reader's likes with them (never a query per item). Reads never
 * join follows: a user's feed is user_feed (fanned out on write) and the newest posts of the large accounts they
 * follow (large_follows, merged here). A deleted or unknown post never shows: every path joins posts on
 * `deleted_at is null`.
 */

/** Above every UUID: the "no cursor" bound, so the first page is the same statement as the others. */
const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

export interface PersonalPageQuery {
  userId: string
  /** Exclusive upper bound (the cursor's post id); absent: from the newest. */
  before: string | undefined
  /** The page size; the statement returns up to limit + 1 rows (the extra one says there is a next page). */
  limit: number
  /**
   * The post ids Redis holds below `before`, newest first (the timeline page, up to limit + 1); empty when Redis
   * had no complete timeline.
   */
  timelineIds: readonly string[]
}

/** A row of a personal-feed page: the item as the API answers it (FeedItemView), as JSON text made by PostgreSQL. */
export interface FeedRow {
  id: string
  /** Whether the read model (user_feed) had to supply the row: Redis did not hold enough of the page. */
  filled: boolean
  /** FeedItemView's JSON. */
  item: string
}

/** A hydrated post's row (hydrate, for the hot feed's ranking). */
interface PostRow {
  id: string
  text: string
  created_at: Date
  like_count: number
  author_id: string
  handle: string
  name: string
  avatar_url: string | null
}

/** A post as both feeds show it; the personal feed adds `liked_by_me`. */
export type PostWithAuthor = Omit<FeedItemView, 'liked_by_me'>

const postWithAuthor = (r: PostRow): PostWithAuthor => ({
  post: { id: r.id, text: r.text, created_at: r.created_at.toISOString() },
  author: { id: r.author_id, handle: r.handle, name: r.name, avatar_url: r.avatar_url },
  like_count: r.like_count,
})

export interface FeedRepositoryOptions {
  /** FEED_RETENTION_DAYS: no page shows a post older than this, whether Redis or user_feed found it. */
  retentionDays: number
}

export function createFeedRepository(sql: Sql, options: FeedRepositoryOptions) {
  const sinceOf = () => postIdFloor(retentionStart(options.retentionDays))
  return {
    /**
     * A page of `userId`'s personal feed: the newest limit + 1 visible posts below `before` out of three sources,
     * merged by post id (UUIDv7: time order):
     *
     *   - `timeline`: the ids Redis gave (the fanned-out window);
     *   - `fill`: user_feed below the last Redis id, read only when the Redis ids hold fewer than limit + 1 visible
     *     posts (a missing timeline, a cursor past the Redis window, deleted posts in it). Whatever Redis lacks is
     *     older than everything it holds (it keeps the newest entries), so this is exactly the rest of the page.
     *     The condition is an uncorrelated subquery: PostgreSQL evaluates it once and skips the scan when false;
     *   - `pulled`: the newest limit + 1 posts below `before` of each followed large account (large_follows, one
     *     index-only range; posts_author, one LIMIT range per account), which are not fanned out.
     *
     * `union` drops the posts found twice (a post fanned out before its author became large). The same statement
     * with no Redis ids is the whole read from PostgreSQL, so both paths give the same answer by construction.
     */
    async personalPage(q: PersonalPageQuery, tx: Queryable = sql): Promise<FeedRow[]> {
      const before = q.before ?? MAX_UUID
      const floor = q.timelineIds.at(-1) ?? before
      const take = q.limit + 1
      // The retention floor (docs/feed.md#retention), as a post id (post-ids.ts), so every range below stops at it:
      // user_feed is pruned below it, and Redis may still hold older ids.
      const since = sinceOf()
      const rows = await tx<FeedRow[]>`
        with timeline as (
          select t.id from unnest(${q.timelineIds as string[]}::uuid[]) as t (id)
        ), fill as (
          select uf.post_id as id
          from user_feed uf join posts p on p.id = uf.post_id and p.deleted_at is null
          where uf.user_id = ${q.userId} and uf.post_id < ${floor} and uf.post_id >= ${since}
            and (select count(*) from timeline t
                 join posts v on v.id = t.id and v.deleted_at is null and v.id >= ${since}) < ${take}
          order by uf.post_id desc
          limit ${take}
        ), pulled as (
          select x.id
          from large_follows lf cross join lateral (
            select p.id from posts p
            where p.author_id = lf.author_id and p.id < ${before} and p.id >= ${since} and p.deleted_at is null
            order by p.id desc
            limit ${take}
          ) x
          where lf.user_id = ${q.userId}
        ), candidates as (
          select id, false as filled from timeline
          union all select id, true from fill
          union all select id, false from pulled
        ), page as (
          select p.id, p.text, p.created_at, p.like_count, p.author_id, bool_or(c.filled) as filled
          from candidates c join posts p on p.id = c.id and p.deleted_at is null and p.id >= ${since}
          group by p.id
          order by p.id desc
          limit ${take}
        )
        select page.id, page.filled, json_build_object(
            -- created_at as Date.toISOString writes it: the API's one format for times (ISO 8601, UTC, ms)
            'post', json_build_object('id', page.id, 'text', page.text,
              'created_at', to_char(page.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
            'author', json_build_object('id', u.id, 'handle', u.handle, 'name', u.name, 'avatar_url', u.avatar_url),
            'like_count', page.like_count::int,
            'liked_by_me', exists (select 1 from likes l where l.user_id = ${q.userId} and l.post_id = page.id)
          )::text as item
        from page join users u on u.id = page.author_id
        order by page.id desc`
      return rows
    },

    /** Visible posts with their authors and like counts, in the order of `ids` (the hot feed's ranking). */
    async hydrate(ids: readonly string[], tx: Queryable = sql): Promise<PostWithAuthor[]> {
      if (ids.length === 0) return []
      const rows = await tx<PostRow[]>`
        select p.id, p.text, p.created_at, p.like_count::int, p.author_id, u.handle, u.name, u.avatar_url
        from unnest(${ids as string[]}::uuid[]) with ordinality as r (id, rank)
          join posts p on p.id = r.id and p.deleted_at is null
          join users u on u.id = p.author_id
        order by r.rank`
      return rows.map(postWithAuthor)
    },

    /** The newest `size` entries of `userId`'s user_feed: what a timeline is rebuilt from (one range scan). */
    async newestEntries(userId: string, size: number, tx: Queryable = sql): Promise<TimelineEntry[]> {
      const rows = await tx<{ post_id: string; author_id: string }[]>`
        select post_id, author_id from user_feed where user_id = ${userId} order by post_id desc limit ${size}`
      return rows.map((r) => ({ postId: r.post_id, authorId: r.author_id }))
    },
  }
}

export type FeedRepository = ReturnType<typeof createFeedRepository>
