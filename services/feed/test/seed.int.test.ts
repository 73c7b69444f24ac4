import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createRedis } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HOT_BUCKETS_COMPLETE_KEY, hotLikesKey, hourOf } from '../src/timelines/keys.js'
import type { Redis } from '../src/timelines/scripts.js'
import { createTimelineStore } from '../src/timelines/timeline-store.js'

/**
 * `npm run seed:feed` at a tiny size (2,000 users), run as a process the way the npm script runs it, into a schema
 * and Redis prefix of its own: the graph's shape in the tables, counts that match the rows, the read model of an
 * active user (user_feed and the Redis timeline, served as the feed reads it), large accounts left to the read-time
 * merge, and a second run that writes nothing.
 */
const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const script = fileURLToPath(new URL('../scripts/seed-feed.ts', import.meta.url))
const USERS = 2000
/** Low enough that a few accounts of a 2,000-user graph are large. */
const LARGE = 300

let env: ServiceTestEnv
let redis: Redis
let firstOutput = ''

const seed = async () =>
  (
    await run(process.execPath, ['--import', 'tsx', script, '--users', String(USERS), '--seed', '3'], {
      cwd: root,
      env: { ...process.env, ...env.env, FANOUT_MAX_FOLLOWERS: String(LARGE) },
      timeout: 120_000,
    })
  ).stderr
const one = async <T>(query: Promise<T[]>) => (await query)[0] as T

beforeAll(async () => {
  env = await createServiceTestEnv('feed_seed')
  redis = createRedis({ REDIS_URL: env.env.REDIS_URL as string, REDIS_PREFIX: env.env.REDIS_PREFIX as string })
  firstOutput = await seed()
}, 180_000)

afterAll(async () => {
  // SCAN's pattern gets no keyPrefix from ioredis: match the prefix, then delete without it (the client adds it)
  const prefix = env.env.REDIS_PREFIX as string
  for (let cursor = '0', first = true; first || cursor !== '0'; first = false) {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(prefix.length)))
  }
  redis.disconnect()
  await env.cleanup()
})

describe('npm run seed:feed', () => {
  it('writes the users, a power-law follow graph, posts and likes, with a progress line per table', async () => {
    const sql = env.schema.sql
    expect(firstOutput).toMatch(/follows: \d+ rows in [\d.]+ s/)
    expect(await one(sql<{ n: number }[]>`select count(*)::int as n from users`)).toEqual({ n: USERS })
    const shape = await one(sql<{ in_range: number; top: number; median: number }[]>`
      select
        (select count(*)::int from users where following_count between 10 and 100) as in_range,
        (select max(follower_count)::int from users) as top,
        (select percentile_disc(0.5) within group (order by follower_count)::int from users) as median`)
    expect(shape.in_range / USERS).toBeGreaterThan(0.9)
    expect(shape.top / Math.max(1, shape.median)).toBeGreaterThan(20)
    const posts = await one(
      sql<{ n: number; oldest: Date }[]>`select count(*)::int as n, min(created_at) as oldest from posts`,
    )
    expect(posts.n).toBeGreaterThan(USERS)
    expect(posts.oldest.getTime()).toBeGreaterThan(Date.now() - 8 * 86_400_000)
  })

  it('keeps every count equal to its rows', async () => {
    const sql = env.schema.sql
    const mismatches = await one(sql<{ follower: number; following: number; posts: number; likes: number }[]>`
      select
        (select count(*)::int from users u where follower_count <>
          (select count(*) from follows f where f.followee_id = u.id)) as follower,
        (select count(*)::int from users u where following_count <>
          (select count(*) from follows f where f.follower_id = u.id)) as following,
        (select count(*)::int from users u where post_count <>
          (select count(*) from posts p where p.author_id = u.id)) as posts,
        (select count(*)::int from posts p where like_count <>
          (select count(*) from likes l where l.post_id = p.id)) as likes`)
    expect(mismatches).toEqual({ follower: 0, following: 0, posts: 0, likes: 0 })
    // the foreign keys the bulk load did not check hold
    const orphans = await one(sql<{ n: number }[]>`
      select (select count(*) from follows f where not exists (select 1 from users u where u.id = f.followee_id))
           + (select count(*) from likes l where not exists (select 1 from posts p where p.id = l.post_id))
           + (select count(*) from posts p where not exists (select 1 from users u where u.id = p.author_id)) as n`)
    expect(Number(orphans.n)).toBe(0)
  })

  it("materialises an active user's feed: the small accounts' posts in user_feed and the Redis timeline", async () => {
    const sql = env.schema.sql
    const active = await sql<{ user_id: string; n: number }[]>`
      select user_id, count(*)::int as n from user_feed group by user_id order by n desc`
    expect(active.length).toBe(USERS / 10)
    const user = active[0] as { user_id: string; n: number }
    // exactly the user's own posts and those of the accounts they follow that are not large (as the worker does)
    const expected = await one(sql<{ n: number }[]>`
      select count(*)::int as n from posts p
      where p.author_id = ${user.user_id}
         or p.author_id in (select followee_id from follows where follower_id = ${user.user_id}
                            and followee_id not in (select author_id from large_authors))`)
    expect(user.n).toBe(expected.n)
    const strays = await one(sql<{ n: number }[]>`
      select count(*)::int as n from user_feed uf
      where uf.author_id <> uf.user_id
        and (not exists (select 1 from follows f where f.follower_id = uf.user_id and f.followee_id = uf.author_id)
             or uf.author_id in (select author_id from large_authors))`)
    expect(strays.n).toBe(0)

    const store = createTimelineStore(redis, { size: 800, activeDays: 30 })
    const page = await store.readTimeline(user.user_id, { limit: 20 })
    const newest = await sql<{ post_id: string; author_id: string }[]>`
      select post_id, author_id from user_feed where user_id = ${user.user_id} order by post_id desc limit 20`
    expect(page).toMatchObject({ state: 'complete', size: user.n })
    expect(page.state === 'complete' && page.entries).toEqual(
      newest.map((r) => ({ postId: r.post_id, authorId: r.author_id })),
    )
  })

  it('leaves large accounts to the read-time merge: large_follows for each of their followers, their list in Redis', async () => {
    const sql = env.schema.sql
    const large = await sql<{ author_id: string; follower_count: number }[]>`
      select a.author_id, u.follower_count::int from large_authors a join users u on u.id = a.author_id`
    expect(large.length).toBeGreaterThan(0)
    for (const a of large) expect(a.follower_count).toBeGreaterThan(LARGE)
    const missing = await one(sql<{ n: number }[]>`
      select count(*)::int as n from follows f join large_authors a on a.author_id = f.followee_id
      where not exists (select 1 from large_follows lf where lf.user_id = f.follower_id and lf.author_id = f.followee_id)`)
    expect(missing.n).toBe(0)
    const store = createTimelineStore(redis, { size: 800, activeDays: 30 })
    const author = large[0]?.author_id as string
    const lists = await store.readAuthorPosts([author], { limit: 5 })
    const newest = await sql<
      { id: string }[]
    >`select id from posts where author_id = ${author} order by id desc limit 5`
    expect(lists.get(author)?.postIds).toEqual(newest.map((r) => r.id))
  })

  it("counts the last day's likes in the hot feed's hourly buckets, each in the hour it was made", async () => {
    const hour = hourOf(Date.now())
    let counted = 0
    for (let h = hour - 24; h <= hour; h++) {
      const scores = await redis.zrange(hotLikesKey(h), 0, -1, 'WITHSCORES')
      for (let i = 1; i < scores.length; i += 2) counted += Number(scores[i])
    }
    const since = new Date((hour - 24) * 3_600_000)
    const likes = await one(
      env.schema.sql<{ n: number }[]>`select count(*)::int as n from likes where created_at >= ${since}`,
    )
    expect(likes.n).toBeGreaterThan(0)
    expect(counted).toBe(likes.n)
    // and says they are whole, so a worker started after the seed does not rebuild them from likes again
    expect(await redis.exists(HOT_BUCKETS_COMPLETE_KEY)).toBe(1)
  })

  it('writes nothing on a second run', async () => {
    const sql = env.schema.sql
    const before = await one(sql<{ n: number }[]>`select count(*)::int as n from follows`)
    const output = await seed()
    expect(output).toMatch(/already seeded .*nothing written/)
    expect(await one(sql<{ n: number }[]>`select count(*)::int as n from follows`)).toEqual(before)
    expect(await one(sql<{ n: number }[]>`select count(*)::int as n from feed_seed`)).toEqual({ n: 1 })
  })
})
