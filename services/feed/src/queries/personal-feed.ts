import type { Logger } from '@platform/logging'
import type { TimelineStore } from '../timelines/timeline-store.js'
import { decodePersonalCursor, encodePersonalCursor } from './feed-cursors.js'
import type { FeedMetrics } from './feed-metrics.js'
import type { FeedRepository } from './feed-repository.js'

/**
 * GET /v1/feed (docs/feed.md#personal-feed): the caller's feed, newest first, by keyset on the post id.
 *
 * A page is one Redis round trip and one SQL statement, whatever the path:
 *   1. the timeline's page in Redis (timeline-store readTimeline: limit + 1 ids below the cursor; the read also
 *      renews the timeline's TTL, which is what keeps a user active, FEED_ACTIVE_DAYS);
 *   2. one statement (feed-repository personalPage) that merges those ids with the newest posts of the followed
 *      large accounts, fills from user_feed whatever Redis lacked (no timeline, a cursor past its window, deleted
 *      posts in it), drops deleted and unknown posts, and brings the posts, authors, like counts and the caller's
 *      likes.
 * A timeline missing in Redis (an inactive user's, one Redis evicted) is rebuilt from user_feed after the answer,
 * in the background, once per user and process at a time: the page itself came from PostgreSQL already, and the
 * next one is a hit.
 *
 * The page is the first `limit` visible posts below the cursor; next_cursor is the last one's id when at least one
 * more exists. New posts have greater ids than every cursor handed out, so they appear on top of a fresh first page
 * and never move the pages below a cursor: no post is skipped or repeated while a client scrolls.
 */
export interface PersonalFeedDeps {
  timelines: TimelineStore
  repository: FeedRepository
  metrics: FeedMetrics
  logger: Logger
}

export interface PageRequest {
  limit: number
  cursor?: string | undefined
}

export function createPersonalFeed(deps: PersonalFeedDeps) {
  const { timelines, repository, metrics, logger } = deps
  const rebuilding = new Map<string, Promise<void>>()
  let lastRedisWarning = 0

  /**
   * The timeline store's three-step rebuild (timeline-store.ts says why this order loses no fan-out that runs at
   * the same time): open (BUILDING), read user_feed's newest entries, complete.
   */
  async function rebuild(userId: string): Promise<void> {
    if (await timelines.openTimeline(userId)) return
    const entries = await repository.newestEntries(userId, timelines.size)
    await timelines.completeTimeline(userId, entries)
    metrics.timelineRebuilds.inc()
  }

  function rebuildOnce(userId: string): void {
    if (rebuilding.has(userId)) return
    const done = rebuild(userId)
      .catch((err: unknown) =>
        logger.warn({ err, userId }, 'feed: rebuilding a timeline failed; the next read retries'),
      )
      .finally(() => rebuilding.delete(userId))
    rebuilding.set(userId, done)
  }

  /**
   * The Redis page, or "unavailable" when Redis does not answer (the client gives up after its command timeout):
   * the feed is then read from PostgreSQL alone, as for a missing timeline, without a rebuild. Slower, not down.
   */
  async function readTimeline(userId: string, before: string | undefined, limit: number) {
    try {
      return await timelines.readTimeline(userId, { ...(before ? { before } : {}), limit })
    } catch (err) {
      // One line per 10 s, not one per page: an outage would otherwise write thousands a second.
      if (Date.now() - lastRedisWarning > 10_000) {
        lastRedisWarning = Date.now()
        logger.warn({ err }, 'feed: Redis did not answer; reading pages from PostgreSQL')
      }
      return { state: 'unavailable' as const }
    }
  }

  return {
    /** The page as the route answers it: FeedPageView's JSON (the items' made by PostgreSQL). */
    async page(userId: string, request: PageRequest): Promise<string> {
      // The cursor is checked before anything is read: a bad one is a 400, never a query.
      const before = request.cursor === undefined ? undefined : decodePersonalCursor(request.cursor)
      const { limit } = request
      const timeline = await readTimeline(userId, before, limit + 1)
      const timelineIds = timeline.state === 'complete' ? timeline.entries.map((e) => e.postId) : []
      const rows = await repository.personalPage({ userId, before, limit, timelineIds })
      // A BUILDING timeline whose rebuild died would stay one: reads rebuild it too (the scripts merge, never lose).
      if (timeline.state === 'missing' || timeline.state === 'building') rebuildOnce(userId)
      const hit = timeline.state === 'complete' && !rows.some((r) => r.filled)
      metrics.cacheRequests.inc({ cache: 'timeline', result: hit ? 'hit' : 'miss' })

      const items = rows.slice(0, limit)
      const last = items.at(-1)
      const next = rows.length > limit && last ? encodePersonalCursor(last.id) : null
      return `{"items":[${items.map((r) => r.item).join(',')}],"next_cursor":${JSON.stringify(next)}}`
    },

    /** Resolves once the rebuilds under way have finished (app close, tests). */
    async settled(): Promise<void> {
      while (rebuilding.size > 0) await Promise.allSettled([...rebuilding.values()])
    },
  }
}

export type PersonalFeed = ReturnType<typeof createPersonalFeed>
