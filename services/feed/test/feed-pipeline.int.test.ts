import { afterAll, describe, expect, it } from 'vitest'
import type { FeedPageView, HotPageView } from '../src/queries/feed-views.js'
import { command, type TestUser } from './commands-harness.js'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * The feeds end to end, through the real broker, PostgreSQL and Redis: a command through the API, its event through
 * the outbox and RabbitMQ, the fan-out worker's consumers (worker-harness.ts runs them as worker.ts does), the read
 * model, and GET /v1/feed and /v1/feed/hot. Each describe starts its own harness (schema, vhost, Redis prefix), so
 * FANOUT_MAX_FOLLOWERS is set per test.
 */
const harnesses: WorkerHarness[] = []
async function start(env: Record<string, string> = {}): Promise<WorkerHarness> {
  const h = await startWorkerHarness({ RATE_LIMIT_MAX: '100000', ...env })
  harnesses.push(h)
  return h
}
afterAll(async () => {
  await Promise.allSettled(harnesses.map((h) => h.close()))
})

async function feedPage(h: WorkerHarness, user: TestUser, query = ''): Promise<FeedPageView> {
  const res = await h.app.inject({ method: 'GET', url: `/v1/feed${query}`, headers: user.auth })
  expect(res.statusCode).toBe(200)
  return res.json() as FeedPageView
}

/** Every page of `user`'s feed, `limit` a page. */
async function wholeFeed(h: WorkerHarness, user: TestUser, limit: number) {
  const items: FeedPageView['items'] = []
  let cursor: string | null = null
  do {
    const page: FeedPageView = await feedPage(h, user, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`)
    items.push(...page.items)
    cursor = page.next_cursor
  } while (cursor)
  return items
}

async function send(h: WorkerHarness, user: TestUser, method: 'PUT' | 'DELETE', url: string): Promise<void> {
  const res = await h.app.inject({ method, url, headers: command(user) })
  expect(res.statusCode).toBe(200)
}

describe('command → event → worker → read model → query', () => {
  it('shows a followee’s new post in the follower’s feed, its like, and removes it on unfollow', async () => {
    const h = await start({ FEED_HOT_CACHE_TTL_S: '1' })
    const author = await h.newUser('author')
    const reader = await h.newUser('reader')
    await h.follow(reader, author.user.id)
    // The reader reads once: an active user, whose Redis timeline now exists and gets the fan-out's writes.
    expect((await feedPage(h, reader)).items).toEqual([])

    const postId = await h.post(author, 'fresh from the oven')
    const page = (await eventually<FeedPageView>(async () => {
      const p = await feedPage(h, reader)
      return p.items[0]?.post.id === postId ? p : undefined
    }, 'the post in the reader’s GET /v1/feed')) as FeedPageView
    expect(page.items[0]).toEqual({
      post: { id: postId, text: 'fresh from the oven', created_at: expect.any(String) },
      author: { id: author.user.id, handle: author.user.handle, name: author.user.name, avatar_url: null },
      like_count: 0,
      liked_by_me: false,
    })
    // From Redis: the fan-out wrote the reader's timeline.
    expect(await h.timelineOf(reader.user.id)).toEqual([postId])

    await send(h, reader, 'PUT', `/v1/posts/${postId}/like`)
    expect((await feedPage(h, reader)).items[0]).toMatchObject({ like_count: 1, liked_by_me: true })
    // The like reaches the hot feed through the likes consumer's hourly bucket, within the cache TTL (1 s here).
    const hot = (await eventually<HotPageView>(async () => {
      const res = await h.app.inject({ method: 'GET', url: '/v1/feed/hot' })
      const body = res.json() as HotPageView
      return body.items[0]?.post.id === postId ? body : undefined
    }, 'the liked post in GET /v1/feed/hot')) as HotPageView
    expect(hot.items[0]).toMatchObject({ score: 1, like_count: 1 })

    await h.unfollow(reader, author.user.id)
    await eventually(async () => (await feedPage(h, reader)).items.length === 0, 'the post gone after the unfollow')
  })
})

describe('fan-out above and below FANOUT_MAX_FOLLOWERS', () => {
  /** Three authors with two followers each post in turn; what the first follower's feed shows, page by page. */
  async function scenario(threshold: number) {
    const h = await start({ FANOUT_MAX_FOLLOWERS: String(threshold), FEED_TIMELINE_SIZE: '5' })
    const authors = [await h.newUser('ann'), await h.newUser('ben'), await h.newUser('cat')]
    const reader = await h.newUser('reader')
    const other = await h.newUser('other')
    for (const author of authors) {
      await h.follow(reader, author.user.id)
      await h.follow(other, author.user.id)
    }
    await feedPage(h, reader)
    const posts: string[] = []
    for (let i = 0; i < 12; i++) posts.push(await h.post(authors[i % 3] as TestUser, `post ${i}`))
    await eventually(
      async () => (await wholeFeed(h, reader, 100)).length === posts.length,
      `all ${posts.length} posts in the reader’s feed (threshold ${threshold})`,
    )
    const large = await h.env.schema.sql<{ n: number }[]>`select count(*)::int as n from large_authors`
    // Pages of 4 from Redis and the read model (a timeline of 5 entries), and the same once the timeline is gone.
    const fromRedis = await wholeFeed(h, reader, 4)
    await h.store.dropTimeline(reader.user.id)
    const fromPostgres = await wholeFeed(h, reader, 4)
    expect(fromPostgres).toEqual(fromRedis)
    const shown = fromRedis.map((i) => `${i.author.handle}: ${i.post.text}`)
    return { shown, large: large[0]?.n ?? 0, ids: fromRedis.map((i) => i.post.id), posts }
  }

  it('gives the same feed when every author is fanned out and when none is', async () => {
    const below = await scenario(100)
    const above = await scenario(1)
    // Below: nobody is large; above: every author (2 followers > 1) is, and its posts are merged at read time.
    expect(below.large).toBe(0)
    expect(above.large).toBe(3)
    expect(above.shown).toEqual(below.shown)
    expect(below.shown[0]).toBe('cat: post 11')
    expect(below.ids).toEqual([...below.posts].reverse())
    expect(above.ids).toEqual([...above.posts].reverse())
  })
})
