import { isProblemError, ProblemError } from '@platform/http'
import { feedProblems } from '../problems.js'
import { decodeHotCursor, encodeHotCursor } from './feed-cursors.js'
import { type HotCache, hotFeedUnavailable } from './hot-cache.js'
import type { PageMemo } from './page-memo.js'
import type { PageRequest } from './personal-feed.js'

/**
 * GET /v1/feed/hot (docs/feed.md#hot-feed): pages of a ranking snapshot (hot-cache.ts). The first page comes from
 * the current snapshot; its next_cursor names that snapshot and the offset reached, so every later page comes from
 * the same ranking, however the scores moved since: no post twice, none skipped. A snapshot unread for
 * FEED_HOT_SNAPSHOT_TTL_S is gone, and a cursor of it gets 410 `hot-feed-snapshot-expired`: start again from the
 * first page.
 *
 * The items are stored as JSON text and sent as they are: a page is one Redis round trip and no serialisation of
 * its items (the route's response schema documents them), and the same page asked again within
 * FEED_HOT_PAGE_MEMO_MS is answered from memory (page-memo.ts).
 */
export const hotFeedSnapshotExpired = () =>
  new ProblemError(feedProblems.hotFeedSnapshotExpired, {
    detail: 'This ranking of the hot feed has expired; load the hot feed again from its first page (no cursor).',
  })

export interface HotFeedOptions {
  cache: HotCache
  size: number
  memo: PageMemo
  /** A first page answered from the memo: the cache's hit metric counts first pages only, as hot-cache.ts does. */
  onFirstPageHit?: () => void
}

export function createHotFeed(options: HotFeedOptions) {
  const { cache, size, memo } = options

  async function render(snapshotId: string | undefined, offset: number, limit: number): Promise<string> {
    // Without Redis (or PostgreSQL, for a ranking that must be computed) there is no hot feed: 503, retry soon.
    const page = await cache.page(snapshotId, offset, limit).catch((error: unknown) => {
      throw isProblemError(error) ? error : hotFeedUnavailable(error)
    })
    if (!page) throw hotFeedSnapshotExpired()
    const next = page.more ? encodeHotCursor({ snapshotId: page.snapshotId, offset: offset + page.items.length }) : null
    return `{"items":[${page.items.join(',')}],"next_cursor":${JSON.stringify(next)},"computed_at":${JSON.stringify(page.computedAt)}}`
  }

  return {
    /** The page as JSON text: `{"items": [...], "next_cursor": ..., "computed_at": ...}`. */
    page(request: PageRequest): Promise<string> {
      // The cursor is checked first (a bad one is a 400); the page is then the memo's (page-memo.ts).
      const key = request.cursor === undefined ? undefined : decodeHotCursor(request.cursor, size)
      const offset = key?.offset ?? 0
      return memo.get(
        `${key?.snapshotId ?? ''}:${offset}:${request.limit}`,
        () => render(key?.snapshotId, offset, request.limit),
        key ? undefined : options.onFirstPageHit,
      )
    },
  }
}

export type HotFeed = ReturnType<typeof createHotFeed>
