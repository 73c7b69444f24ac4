import type { Sql } from '@platform/db'
import { createRedis } from '@platform/http'
import { createLogger } from '@platform/logging'
import { createRegistry, type Registry } from '@platform/metrics'
import { v7 as uuidv7 } from 'uuid'
import { type Config, loadServiceConfig } from '../src/config.js'
import { createFeedMetrics, type FeedMetrics } from '../src/queries/feed-metrics.js'
import { createFeedRepository } from '../src/queries/feed-repository.js'
import type { FeedPageView } from '../src/queries/feed-views.js'
import { createPersonalFeed, type PageRequest, type PersonalFeed } from '../src/queries/personal-feed.js'
import { hotLikesKey, hourOf } from '../src/timelines/keys.js'
import type { Redis } from '../src/timelines/scripts.js'
import { createTimelineStore, type TimelineStore } from '../src/timelines/timeline-store.js'
import { type FeedHarness, startFeed, type TestUser } from './commands-harness.js'

/**
 * The feed app (commands-harness startFeed) and, on the same schema and Redis prefix, what the reads tests drive
 * directly: a Redis client, the timeline store, a personal feed over a SQL client that counts its statements, and
 * the writes the fan-out worker would make (user_feed rows and timeline entries, large_follows, like buckets), so a
 * test sets up exactly the feed it wants without waiting for a worker.
 */
export interface ReadsHarness extends FeedHarness {
  redis: Redis
  sql: Sql
  timelines: TimelineStore
  /** A personal feed whose SQL goes through `queries` (counted), with its own metrics. */
  personalFeed(): { feed: ParsedFeed; metrics: FeedMetrics; registry: Registry }
  /** SQL statements run through the counted client since the last reset. */
  queries: { count: number; reset(): void }
  /** A post by `author` at `at` (default: one ms after the previous post of this harness), id UUIDv7 of that time. */
  post(author: TestUser, text?: string, at?: Date): Promise<string>
  /** What a fan-out batch writes: user_feed rows, and entries in the timelines that exist. */
  deliver(postId: string, authorId: string, followerIds: string[]): Promise<void>
  /** `userId` follows the large account `authorId` (the row the worker keeps). */
  followLarge(userId: string, authorId: string): Promise<void>
  /** `n` likes of `postId` in the current hour's bucket (what the worker's likes consumer adds). */
  likeInBucket(postId: string, n: number): Promise<void>
  deletePost(postId: string): Promise<void>
}

/** A personal feed whose pages are parsed: page() answers the route's JSON text, tests read its members. */
export interface ParsedFeed {
  page(userId: string, request: PageRequest): Promise<FeedPageView>
  settled(): Promise<void>
}

export function parsed(feed: PersonalFeed): ParsedFeed {
  return {
    page: async (userId, request) => JSON.parse(await feed.page(userId, request)) as FeedPageView,
    settled: () => feed.settled(),
  }
}

export async function startReads(overrides: Record<string, string> = {}): Promise<ReadsHarness> {
  const h = await startFeed(overrides)
  const config: Config = loadServiceConfig(h.env.env)
  const redis = createRedis(config)
  const base = h.env.schema.sql
  const queries = {
    count: 0,
    reset() {
      queries.count = 0
    },
  }
  // Counts tagged-template calls (statements); fragments and helpers are not made by the repository.
  const sql = new Proxy(base, {
    apply(target, self, args) {
      if (Array.isArray(args[0]) && 'raw' in (args[0] as object)) queries.count++
      return Reflect.apply(target, self, args)
    },
  }) as Sql
  const timelines = createTimelineStore(redis, {
    size: config.FEED_TIMELINE_SIZE,
    activeDays: config.FEED_ACTIVE_DAYS,
  })
  let clock = Date.now() - 3_600_000

  return {
    ...h,
    redis,
    sql,
    timelines,
    queries,
    personalFeed() {
      const registry = createRegistry()
      const metrics = createFeedMetrics(registry)
      const feed = createPersonalFeed({
        timelines,
        repository: createFeedRepository(sql, { retentionDays: 90 }),
        metrics,
        logger: createLogger({ service: 'feed-test', level: 'silent' }),
      })
      return { feed: parsed(feed), metrics, registry }
    },
    async post(author, text = 'a post', at) {
      clock = Math.max(clock + 1, at?.getTime() ?? 0)
      const createdAt = at ?? new Date(clock)
      const id = uuidv7({ msecs: createdAt.getTime() })
      await base`insert into posts (id, author_id, text, created_at) values (${id}, ${author.user.id}, ${text}, ${createdAt})`
      return id
    },
    async deliver(postId, authorId, followerIds) {
      if (followerIds.length === 0) return
      await base`
        insert into user_feed (user_id, post_id, author_id, created_at)
        select f, ${postId}, ${authorId}, p.created_at
        from unnest(${followerIds}::uuid[]) f cross join posts p where p.id = ${postId}
        on conflict do nothing`
      await timelines.addToTimelines(followerIds, [{ postId, authorId }])
    },
    async followLarge(userId, authorId) {
      await base`insert into large_follows (user_id, author_id) values (${userId}, ${authorId}) on conflict do nothing`
    },
    async likeInBucket(postId, n) {
      await redis.zincrby(hotLikesKey(hourOf(Date.now())), n, postId)
      await base`update posts set like_count = like_count + ${n} where id = ${postId}`
    },
    async deletePost(postId) {
      await base`update posts set deleted_at = now() where id = ${postId}`
    },
    async close() {
      redis.disconnect()
      await h.close()
    },
  }
}
