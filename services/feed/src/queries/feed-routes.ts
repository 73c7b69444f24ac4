import type { ServiceApp } from '@platform/http'
import type { ServiceRuntime } from '@platform/service'
import type { onRequestAsyncHookHandler } from 'fastify'
import { authOf, BEARER_SECURITY } from '../auth/authenticate.js'
import type { Config } from '../config.js'
import { HOT_FRESH_KEY, HOT_LOCK_KEY, HOT_POINTER_KEY, hotSnapshotKey } from '../timelines/keys.js'
import { createTimelineStore } from '../timelines/timeline-store.js'
import { createFeedMetrics } from './feed-metrics.js'
import { createFeedRepository } from './feed-repository.js'
import { FeedPageView, FeedQuery, HotPageView, HotQuery } from './feed-views.js'
import { createHotCache } from './hot-cache.js'
import { createHotFeed } from './hot-feed.js'
import { createHotRanking } from './hot-ranking.js'
import { createPageMemo } from './page-memo.js'
import { createPersonalFeed, type PersonalFeed } from './personal-feed.js'

export type FeedReadsConfig = Pick<
  Config,
  | 'FEED_TIMELINE_SIZE'
  | 'FEED_ACTIVE_DAYS'
  | 'FEED_HOT_CACHE_TTL_S'
  | 'FEED_HOT_SNAPSHOT_TTL_S'
  | 'FEED_HOT_SIZE'
  | 'FEED_HOT_LOCK_LEASE_MS'
  | 'FEED_HOT_LOCK_WAIT_MS'
  | 'FEED_HOT_PAGE_MEMO_MS'
  | 'FEED_RETENTION_DAYS'
>

export interface FeedReadsOptions {
  runtime: ServiceRuntime<true>
  config: FeedReadsConfig
  authenticate: onRequestAsyncHookHandler
}

const PERSONAL_DOC =
  'Newest first, by keyset on the post id: pass `next_cursor` as `cursor` for the next page. New posts appear on a ' +
  'new first page and never shift the pages below a cursor, so scrolling skips and repeats nothing. A cursor no ' +
  'page handed out gets 400 invalid-cursor. Posts of followed accounts appear within seconds (eventual consistency, ' +
  'docs/feed.md#personal-feed).'

const HOT_DOC =
  'Posts ranked by likes in the last 24 hours (ties: the newer post first). A ranking is computed at most every ' +
  'FEED_HOT_CACHE_TTL_S (30 s) and paged as one snapshot: `next_cursor` names it, so later pages come from the same ' +
  'ranking. A snapshot unread for FEED_HOT_SNAPSHOT_TTL_S (10 min) expires: its cursor gets 410 ' +
  'hot-feed-snapshot-expired, and the client starts again without a cursor.'

/**
 * The feeds' routes (docs/feed.md#personal-feed, #hot-feed): thin handlers over personal-feed.ts and hot-feed.ts.
 * The personal feed is behind the bearer authentication (onRequest, so a request without a token is a 401 before
 * its query is validated) and private to its user; the hot feed is public and the same for everyone.
 */
export async function registerFeedReads(
  app: ServiceApp,
  options: FeedReadsOptions,
): Promise<{ personal: PersonalFeed }> {
  const { runtime, config } = options
  const metrics = createFeedMetrics(runtime.registry)
  const repository = createFeedRepository(runtime.sql, { retentionDays: config.FEED_RETENTION_DAYS })
  const timelines = createTimelineStore(runtime.redis, {
    size: config.FEED_TIMELINE_SIZE,
    activeDays: config.FEED_ACTIVE_DAYS,
  })
  const personal = createPersonalFeed({ timelines, repository, metrics, logger: runtime.logger })
  const cache = createHotCache({
    redis: runtime.redis,
    keys: { pointer: HOT_POINTER_KEY, fresh: HOT_FRESH_KEY, lock: HOT_LOCK_KEY, snapshot: hotSnapshotKey },
    freshTtlMs: config.FEED_HOT_CACHE_TTL_S * 1000,
    snapshotTtlMs: config.FEED_HOT_SNAPSHOT_TTL_S * 1000,
    leaseMs: config.FEED_HOT_LOCK_LEASE_MS,
    waitMs: config.FEED_HOT_LOCK_WAIT_MS,
    compute: createHotRanking({ redis: runtime.redis, repository, size: config.FEED_HOT_SIZE }),
    metrics,
    logger: runtime.logger,
  })
  // 256 pages: what a second of readers scrolls through, and at most ~25 MB of 100-item pages a client can fill.
  const memo = createPageMemo({ ttlMs: config.FEED_HOT_PAGE_MEMO_MS, maxEntries: 256 })
  const hot = createHotFeed({
    cache,
    size: config.FEED_HOT_SIZE,
    memo,
    onFirstPageHit: () => metrics.cacheRequests.inc({ cache: 'hot', result: 'hit' }),
  })
  // Rebuilds run after their answer; they finish before the connections close.
  app.addHook('onClose', () => personal.settled())

  await app.register(async function feedRoutes(scope: ServiceApp) {
    scope.addHook('onRequest', options.authenticate)
    scope.get(
      '/v1/feed',
      {
        schema: {
          summary: 'The caller’s personal feed',
          description: PERSONAL_DOC,
          tags: ['feed'],
          security: BEARER_SECURITY,
          querystring: FeedQuery,
          response: { 200: FeedPageView },
        },
      },
      async (request, reply) => {
        const body = await personal.page(authOf(request).userId, request.query)
        // JSON text already (personal-feed.ts): sent as it is, as the hot feed's; the schema documents it.
        reply.header('cache-control', 'private, no-cache').type('application/json; charset=utf-8')
        return reply.send(body as unknown as FeedPageView)
      },
    )
  })

  app.get(
    '/v1/feed/hot',
    {
      schema: {
        summary: 'The hot feed',
        description: HOT_DOC,
        tags: ['feed'],
        querystring: HotQuery,
        response: { 200: HotPageView },
      },
    },
    async (request, reply) => {
      const body = await hot.page(request.query)
      // The same for every reader, and a snapshot does not change: shared caches may keep a page briefly. A string
      // with a JSON content type is sent as it is (no serialiser): the items are stored as JSON already.
      reply.header('cache-control', 'public, max-age=5').type('application/json; charset=utf-8')
      return reply.send(body as unknown as HotPageView)
    },
  )
  return { personal }
}
