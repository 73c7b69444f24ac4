import { waitFor } from '@platform/testing'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FeedPageView, HotPageView } from '../src/queries/feed-views.js'
import {
  HOT_FRESH_KEY,
  HOT_LOCK_KEY,
  HOT_POINTER_KEY,
  HOT_WINDOW_HOURS,
  hotLikesKey,
  hourOf,
} from '../src/timelines/keys.js'
import type { TestUser } from './commands-harness.js'
import { type ReadsHarness, startReads } from './reads-harness.js'

/**
 * Pagination properties (fast-check) against real PostgreSQL and Redis: random interleavings of page reads with
 * new posts, evictions of the timeline and deletions (personal feed), or with likes and recomputes of the ranking
 * (hot feed), never skip or repeat an item. The timelines hold 6 entries, so scrolling crosses from Redis to
 * PostgreSQL; a large account's posts are merged at read time.
 */
let h: ReadsHarness
let authors: TestUser[]

beforeAll(async () => {
  // The hot feed's page memo off: each run resets Redis under the instance and must see its own ranking at once.
  h = await startReads({ FEED_TIMELINE_SIZE: '6', RATE_LIMIT_MAX: '100000', FEED_HOT_PAGE_MEMO_MS: '0' })
  authors = [await h.newUser('small1'), await h.newUser('small2')]
})
afterAll(async () => {
  await h?.close()
})

/** Who posts: 0 and 1 are fanned out, 2 is the large account (merged at read time). */
const Poster = fc.constantFrom(0, 1, 2)

describe('personal feed pagination', () => {
  type Step = { kind: 'read' } | { kind: 'post'; by: number } | { kind: 'evict' } | { kind: 'delete'; pick: number }
  const StepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: 'read' as const }) },
    { weight: 3, arbitrary: Poster.map((by) => ({ kind: 'post' as const, by })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'evict' as const }) },
    { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'delete' as const, pick })) },
  )

  it('never skips or repeats a post while posts arrive, timelines are evicted and posts deleted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(Poster, { maxLength: 24 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(StepArb, { maxLength: 25 }),
        async (initial, limit, steps) => {
          // A reader and a large account of this run's own (the large account's posts all show in the feed).
          const reader = await h.newUser('reader')
          const large = await h.newUser('large')
          await h.followLarge(reader.user.id, large.user.id)
          const { feed } = h.personalFeed()
          const all: string[] = []
          const publish = async (by: number) => {
            const author = by === 2 ? large : (authors[by] as TestUser)
            const id = await h.post(author)
            if (by !== 2) await h.deliver(id, author.user.id, [reader.user.id])
            all.push(id)
          }
          for (const by of initial) await publish(by)
          const deleted = new Set<string>()
          const atStart = new Set(all)

          const seen: string[] = []
          let page: FeedPageView = await feed.page(reader.user.id, { limit })
          seen.push(...page.items.map((i) => i.post.id))
          const next = async () => {
            if (!page.next_cursor) return
            page = await feed.page(reader.user.id, { limit, cursor: page.next_cursor })
            seen.push(...page.items.map((i) => i.post.id))
          }
          for (const step of steps) {
            if (step.kind === 'read') await next()
            else if (step.kind === 'post') await publish(step.by)
            else if (step.kind === 'evict') await h.timelines.dropTimeline(reader.user.id)
            else if (all.length > 0) {
              const id = all[step.pick % all.length] as string
              await h.deletePost(id)
              deleted.add(id)
            }
          }
          // Bounded: a cursor that repeated pages would scroll forever.
          for (let pages = 0; page.next_cursor && pages < 200; pages++) await next()
          await feed.settled()
          expect(page.next_cursor).toBeNull()

          // Newest first without a repeat; only posts there at the start (later ones are above every cursor);
          // every one of them that is still visible.
          expect(seen).toEqual([...new Set(seen)].sort().reverse())
          for (const id of seen) expect(atStart.has(id)).toBe(true)
          const expected = [...atStart]
            .filter((id) => !deleted.has(id))
            .sort()
            .reverse()
          expect(seen.filter((id) => !deleted.has(id))).toEqual(expected)
        },
      ),
      { numRuns: 30 },
    )
  })
})

describe('hot feed pagination', () => {
  type Step = { kind: 'read' } | { kind: 'like'; pick: number; n: number } | { kind: 'recompute' }
  const StepArb: fc.Arbitrary<Step> = fc.oneof(
    { weight: 3, arbitrary: fc.constant({ kind: 'read' as const }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('like' as const), pick: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'recompute' as const }) },
  )

  const hot = async (query: string) => {
    const res = await h.app.inject({ method: 'GET', url: `/v1/feed/hot${query}` })
    expect(res.statusCode).toBe(200)
    return res.json() as HotPageView
  }

  it('pages one ranking without a gap or a repeat while likes change it and it is recomputed', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(StepArb, { maxLength: 20 }),
        async (likes, limit, steps) => {
          // An empty hot feed: the ranking below is the only one.
          const hour = hourOf(Date.now())
          const buckets = Array.from({ length: HOT_WINDOW_HOURS + 1 }, (_, i) => hotLikesKey(hour - i))
          await h.redis.del(HOT_POINTER_KEY, HOT_FRESH_KEY, HOT_LOCK_KEY, ...buckets)
          const author = authors[0] as TestUser
          const scores = new Map<string, number>()
          for (const n of likes) {
            const id = await h.post(author)
            if (n > 0) await h.likeInBucket(id, n)
            scores.set(id, n)
          }
          // The ranking at the first page: by score, then the newer post (greater id) first.
          const expected = [...scores]
            .filter(([, n]) => n > 0)
            .sort(([a, x], [b, y]) => y - x || (a < b ? 1 : -1))
            .map(([id]) => id)

          let page = await hot(`?limit=${limit}`)
          const seen = page.items.map((i) => i.post.id)
          const ids = [...scores.keys()]
          for (const step of steps) {
            if (step.kind === 'read' && page.next_cursor) {
              page = await hot(`?limit=${limit}&cursor=${page.next_cursor}`)
              seen.push(...page.items.map((i) => i.post.id))
            } else if (step.kind === 'like') {
              await h.likeInBucket(ids[step.pick % ids.length] as string, step.n)
            } else if (step.kind === 'recompute') {
              const current = (await hot('?limit=1')).computed_at
              await h.redis.del(HOT_FRESH_KEY)
              await waitFor(async () => (await hot('?limit=1')).computed_at !== current)
            }
          }
          while (page.next_cursor) {
            page = await hot(`?limit=${limit}&cursor=${page.next_cursor}`)
            seen.push(...page.items.map((i) => i.post.id))
          }
          expect(seen).toEqual(expected)
        },
      ),
      { numRuns: 30 },
    )
  })
})
