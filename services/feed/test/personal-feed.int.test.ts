import { expectProblem } from '@platform/http/testing'
import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodePersonalCursor } from '../src/queries/feed-cursors.js'
import { createFeedMetrics } from '../src/queries/feed-metrics.js'
import { createFeedRepository } from '../src/queries/feed-repository.js'
import type { FeedPageView } from '../src/queries/feed-views.js'
import { createPersonalFeed } from '../src/queries/personal-feed.js'
import type { TestUser } from './commands-harness.js'
import { type ParsedFeed, parsed, type ReadsHarness, startReads } from './reads-harness.js'

/**
 * GET /v1/feed against real PostgreSQL and Redis: the same pages from Redis and from the read model, a cursor past
 * the Redis window, the rebuild of a missing timeline, large accounts merged, deleted and unknown posts hidden, one
 * SQL statement per page, and the route's answers (400 for bad cursors, 401 without a token). The timelines hold 8
 * entries here (FEED_TIMELINE_SIZE), so a few pages cross the window.
 */
const WINDOW = 8
let h: ReadsHarness
let reader: TestUser
let authors: TestUser[]
let large: TestUser
/** Every post of reader's feed, newest first, deleted ones included (the tests filter). */
const posted: string[] = []
let deleted: string

beforeAll(async () => {
  h = await startReads({ FEED_TIMELINE_SIZE: String(WINDOW) })
  reader = await h.newUser('reader')
  authors = [await h.newUser('alice'), await h.newUser('bob'), await h.newUser('carol')]
  large = await h.newUser('celebrity')
  await h.followLarge(reader.user.id, large.user.id)
  // 24 posts, round robin over the three fanned-out authors and the large account (not fanned out).
  for (let i = 0; i < 24; i++) {
    const author = i % 4 === 3 ? large : (authors[i % 4] as TestUser)
    const id = await h.post(author, `post ${i}`)
    if (author !== large) await h.deliver(id, author.user.id, [reader.user.id])
    posted.unshift(id)
  }
  deleted = posted[5] as string
  await h.deletePost(deleted)
})
afterAll(async () => {
  await h?.close()
})

const visible = () => posted.filter((id) => id !== deleted)

/** Every page from the first, `before` run before each page (to evict, say). */
async function scroll(feed: ParsedFeed, limit: number, before: () => Promise<void> = async () => {}) {
  const pages: FeedPageView[] = []
  let cursor: string | undefined
  do {
    await before()
    const page = await feed.page(reader.user.id, { limit, ...(cursor ? { cursor } : {}) })
    pages.push(page)
    cursor = page.next_cursor ?? undefined
  } while (cursor && pages.length < 100)
  return pages
}

const ids = (pages: FeedPageView[]) => pages.flatMap((p) => p.items.map((i) => i.post.id))
const counter = async (registry: { getSingleMetricAsString(name: string): Promise<string> }, result: string) => {
  const text = await registry.getSingleMetricAsString('feed_cache_requests_total')
  const line = text.split('\n').find((l) => l.includes(`result="${result}"`) && l.includes('cache="timeline"'))
  return line ? Number(line.split(' ').at(-1)) : 0
}

describe('GET /v1/feed: Redis and PostgreSQL', () => {
  it('answers the same pages from Redis as from the read model, newest first, with the large account merged', async () => {
    const { feed, registry } = h.personalFeed()
    // Warm: the first read rebuilds the timeline (its newest WINDOW entries) in Redis.
    await feed.page(reader.user.id, { limit: 3 })
    await feed.settled()
    const fromRedis = await scroll(feed, 3)
    const hits = await counter(registry, 'hit')
    // Pages inside the window came from Redis (the first three pages: 9 posts, of which 6 fanned out).
    expect(hits).toBeGreaterThanOrEqual(2)

    const pg = h.personalFeed()
    const fromPostgres = await scroll(pg.feed, 3, () => h.timelines.dropTimeline(reader.user.id))
    expect(await counter(pg.registry, 'hit')).toBe(0)
    expect(fromPostgres).toEqual(fromRedis)
    expect(ids(fromRedis)).toEqual(visible())
    await pg.feed.settled()
  })

  it('gives each item its post, author, like count and the reader’s like', async () => {
    const { feed } = h.personalFeed()
    const newest = posted[0] as string
    await h.env.schema
      .sql`insert into likes (user_id, post_id, created_at) values (${reader.user.id}, ${newest}, now())`
    await h.env.schema.sql`update posts set like_count = 3 where id = ${newest}`
    const page = await feed.page(reader.user.id, { limit: 2 })
    expect(page.items[0]).toEqual({
      post: { id: newest, text: 'post 23', created_at: expect.any(String) },
      author: { id: large.user.id, handle: large.user.handle, name: large.user.name, avatar_url: null },
      like_count: 3,
      liked_by_me: true,
    })
    expect(page.items[1]?.liked_by_me).toBe(false)
    expect(page.next_cursor).toBe(encodePersonalCursor(posted[1] as string))
  })

  it('continues from PostgreSQL once the cursor is past the Redis window', async () => {
    const { feed, registry } = h.personalFeed()
    await feed.page(reader.user.id, { limit: 1 })
    await feed.settled()
    const state = await h.timelines.readTimeline(reader.user.id, { limit: 100 })
    expect(state).toMatchObject({ state: 'complete', size: WINDOW })
    const pages = await scroll(feed, 5)
    expect(ids(pages)).toEqual(visible())
    expect(await counter(registry, 'hit')).toBeGreaterThanOrEqual(1)
    expect(await counter(registry, 'miss')).toBeGreaterThanOrEqual(2)
  })

  it('rebuilds a missing timeline (an evicted or inactive user) from the read model after answering', async () => {
    await h.timelines.dropTimeline(reader.user.id)
    const { feed, registry } = h.personalFeed()
    const first = await feed.page(reader.user.id, { limit: 4 })
    expect(await counter(registry, 'miss')).toBe(1)
    await feed.settled()
    expect(await registry.getSingleMetricAsString('feed_timeline_rebuilds_total')).toMatch(/ 1$/m)
    const second = await feed.page(reader.user.id, { limit: 4 })
    expect(await counter(registry, 'hit')).toBe(1)
    expect(second).toEqual(first)
  })

  it('runs one SQL statement per page, from Redis, across the window, and on a miss (the rebuild after it)', async () => {
    const { feed } = h.personalFeed()
    await feed.page(reader.user.id, { limit: 1 })
    await feed.settled()
    let cursor: string | undefined
    let pages = 0
    do {
      h.queries.reset()
      const page = await feed.page(reader.user.id, { limit: 4, ...(cursor ? { cursor } : {}) })
      expect(h.queries.count).toBe(1)
      cursor = page.next_cursor ?? undefined
      pages++
    } while (cursor)
    expect(pages).toBeGreaterThan(3)

    await h.timelines.dropTimeline(reader.user.id)
    h.queries.reset()
    await feed.page(reader.user.id, { limit: 4 })
    expect(h.queries.count).toBe(1)
    await feed.settled()
    // The rebuild's own read of user_feed, after the answer.
    expect(h.queries.count).toBe(2)
  })

  it('never shows a deleted or unknown post, and still fills the page', async () => {
    const ghost = '01900000-0000-7000-8000-000000000001'
    await h.env.schema.sql`
      insert into user_feed (user_id, post_id, author_id, created_at)
      values (${reader.user.id}, ${ghost}, ${large.user.id}, now())`
    // in Redis too: a timeline entry whose post is unknown
    await h.timelines.addToTimelines([reader.user.id], [{ postId: ghost, authorId: large.user.id }])
    for (const evict of [false, true]) {
      const { feed } = h.personalFeed()
      const pages = await scroll(feed, 4, async () => {
        if (evict) await h.timelines.dropTimeline(reader.user.id)
      })
      expect(ids(pages)).toEqual(visible())
      for (const page of pages.slice(0, -1)) expect(page.items).toHaveLength(4)
      await feed.settled()
    }
  })
})

describe('GET /v1/feed: Redis down', () => {
  it('answers from PostgreSQL alone when Redis does not answer', async () => {
    const { feed: healthy } = h.personalFeed()
    const expected = await scroll(healthy, 5)
    const broken = createPersonalFeed({
      timelines: {
        ...h.timelines,
        readTimeline: () => Promise.reject(new Error('Command timed out')),
        openTimeline: () => Promise.reject(new Error('no rebuild without Redis')),
      },
      repository: createFeedRepository(h.sql, { retentionDays: 90 }),
      metrics: createFeedMetrics(createRegistry()),
      logger: createLogger({ service: 'feed-test', level: 'silent' }),
    })
    expect(await scroll(parsed(broken), 5)).toEqual(expected)
    await broken.settled()
  })
})

describe('GET /v1/feed: the route', () => {
  it('answers a page with a private cache-control, and next pages by cursor', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/feed?limit=5', headers: reader.auth })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('private, no-cache')
    const page = res.json() as FeedPageView
    expect(page.items.map((i) => i.post.id)).toEqual(visible().slice(0, 5))
    const next = await h.app.inject({
      method: 'GET',
      url: `/v1/feed?limit=5&cursor=${page.next_cursor}`,
      headers: reader.auth,
    })
    expect((next.json() as FeedPageView).items.map((i) => i.post.id)).toEqual(visible().slice(5, 10))

    // Each item says what GET /v1/posts/:id says of the post (PostgreSQL writes the page's JSON, JS the post's).
    for (const item of page.items) {
      const post = (
        await h.app.inject({ method: 'GET', url: `/v1/posts/${item.post.id}`, headers: reader.auth })
      ).json()
      expect(item).toEqual({
        post: { id: post.id, text: post.text, created_at: post.created_at },
        author: post.author,
        like_count: post.like_count,
        liked_by_me: post.liked_by_me,
      })
    }
  })

  it('needs an access token', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/v1/feed' })
    expectProblem(res, 401, { type: expect.stringMatching(/authentication-required$/) })
  })

  it('refuses every cursor no page handed out with 400 invalid-cursor, before reading anything', async () => {
    const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const v7 = posted[0] as string
    for (const cursor of [
      'garbage!',
      'A'.repeat(256),
      raw(['p']),
      raw(['p', v7, 1]),
      raw(['h', v7]),
      raw(['p', v7.toUpperCase()]),
      raw(['p', '6f1c0a4e-2b7d-4c1e-9f3a-7d2b1c0e4a5f']), // a UUIDv4: not a post id
      raw(['p', `${v7}0`]),
      raw(['p', 42]),
      raw({ p: v7 }),
      raw(['h', 'mhx1a2b3-0011aabb', 50]), // the hot feed's cursor
      Buffer.from('not json').toString('base64url'),
    ]) {
      const res = await h.app.inject({
        method: 'GET',
        url: `/v1/feed?cursor=${encodeURIComponent(cursor)}`,
        headers: reader.auth,
      })
      expectProblem(res, 400, { type: expect.stringMatching(/invalid-cursor$/) })
    }
  })

  it('refuses a limit outside 1 to 100', async () => {
    for (const limit of ['0', '101', 'x', '2.5']) {
      const res = await h.app.inject({ method: 'GET', url: `/v1/feed?limit=${limit}`, headers: reader.auth })
      expect(res.statusCode).toBe(400)
    }
  })
})
