import { createRedis } from '@platform/http'
import { redisPrefix, testUrls } from '@platform/testing'
import { v7 as uuidv7 } from 'uuid'
import { afterAll, describe, expect, it } from 'vitest'
import { createHotLikes } from '../src/timelines/hot-likes.js'
import { hotBucketKeys, hotLikersKey, hotLikesKey, hourOf, timelineKey } from '../src/timelines/keys.js'
import { createTimelineStore, type TimelineEntry } from '../src/timelines/timeline-store.js'

/**
 * The Redis side of the feed against a real Redis, under a key prefix of its own: the timeline store's writes and
 * reads (what the worker and GET /v1/feed use) and the hot feed's buckets.
 */
const redis = createRedis({ REDIS_URL: testUrls().redisUrl, REDIS_PREFIX: redisPrefix('timelines') })
const store = createTimelineStore(redis, { size: 5, activeDays: 1 })
afterAll(() => redis.disconnect())

/** `n` entries in time order (oldest first), by one author unless given. */
const entries = (n: number, authorId = uuidv7()): TimelineEntry[] =>
  Array.from({ length: n }, (_, i) => ({ postId: uuidv7({ msecs: Date.now() + i }), authorId }))
const ids = (list: TimelineEntry[]) => list.map((e) => e.postId)
const newestFirst = (list: TimelineEntry[]) => [...list].reverse()

async function live(userId: string, initial: TimelineEntry[] = []) {
  await store.openTimeline(userId)
  await store.completeTimeline(userId, initial)
}

describe('timelines', () => {
  it('write only to timelines that exist (active users), trimmed to the newest `size`', async () => {
    const [active, inactive] = [uuidv7(), uuidv7()]
    await live(active)
    const posts = entries(7)
    for (const entry of posts) expect(await store.addToTimelines([active, inactive], [entry])).toBe(1)
    const page = await store.readTimeline(active, { limit: 10 })
    expect(page).toEqual({ state: 'complete', entries: newestFirst(posts).slice(0, 5), size: 5 })
    expect(await store.readTimeline(inactive, { limit: 10 })).toEqual({ state: 'missing' })
    expect(await redis.exists(timelineKey(inactive))).toBe(0)
  })

  it('page newest first below an exclusive cursor, never showing the markers', async () => {
    const user = uuidv7()
    const posts = entries(5)
    await live(user, posts)
    const first = await store.readTimeline(user, { limit: 2 })
    if (first.state !== 'complete') throw new Error('complete')
    expect(ids(first.entries)).toEqual(ids(newestFirst(posts)).slice(0, 2))
    const second = await store.readTimeline(user, { limit: 10, before: first.entries[1]?.postId })
    expect(second.state === 'complete' && ids(second.entries)).toEqual(ids(newestFirst(posts)).slice(2))
    const past = await store.readTimeline(user, { limit: 10, before: posts[0]?.postId })
    expect(past).toEqual({ state: 'complete', entries: [], size: 5 })
  })

  it('rebuild: a fan-out write between open and complete is kept, and the set is served only once complete', async () => {
    const user = uuidv7()
    expect(await store.openTimeline(user)).toBe(false)
    const [fromPostgres, fromFanout] = [entries(2), entries(1)]
    expect(await store.addToTimelines([user], fromFanout)).toBe(1) // lands while BUILDING
    expect(await store.readTimeline(user, { limit: 10 })).toEqual({ state: 'building' })
    await store.completeTimeline(user, fromPostgres)
    const page = await store.readTimeline(user, { limit: 10 })
    expect(page.state === 'complete' && ids(page.entries).sort()).toEqual(ids([...fromPostgres, ...fromFanout]).sort())
    expect(await store.openTimeline(user)).toBe(true) // complete already: nothing to rebuild
  })

  it('refresh their TTL on a read, not on a write', async () => {
    const user = uuidv7()
    await live(user)
    await redis.pexpire(timelineKey(user), 10_000)
    await store.addToTimelines([user], entries(1))
    expect(await redis.pttl(timelineKey(user))).toBeLessThanOrEqual(10_000)
    await store.readTimeline(user, { limit: 1 })
    expect(await redis.pttl(timelineKey(user))).toBeGreaterThan(86_000_000)
  })

  it('lose an author’s entries on removeAuthor, and only theirs', async () => {
    const user = uuidv7()
    const [gone, kept] = [entries(2), entries(2)]
    await live(user, [...gone, ...kept])
    expect(await store.removeAuthor(user, gone[0]?.authorId as string)).toBe(2)
    expect(await store.removeAuthor(user, gone[0]?.authorId as string)).toBe(0)
    const page = await store.readTimeline(user, { limit: 10 })
    expect(page.state === 'complete' && ids(page.entries)).toEqual(ids(newestFirst(kept)))
  })

  it('write many timelines of many shards in one call', async () => {
    const users = Array.from({ length: 200 }, () => uuidv7())
    for (const user of users) await live(user)
    const [entry] = entries(1)
    expect(await store.addToTimelines(users, [entry as TimelineEntry])).toBe(200)
    for (const user of users.slice(0, 20)) {
      const page = await store.readTimeline(user, { limit: 10 })
      expect(page.state === 'complete' && page.entries).toEqual([entry])
    }
  })
})

describe('author lists', () => {
  it('take a post only when complete; rebuilt from PostgreSQL’s newest, trimmed, paged like timelines', async () => {
    const author = uuidv7()
    const posts = entries(7, author)
    expect(await store.addAuthorPost(author, posts[0]?.postId as string)).toBe(false)
    await store.completeAuthorPosts(author, ids(posts.slice(0, 6)))
    expect(await store.addAuthorPost(author, posts[6]?.postId as string)).toBe(true)
    const lists = await store.readAuthorPosts([author, uuidv7()], { limit: 3 })
    expect([...lists.values()]).toEqual([{ postIds: ids(newestFirst(posts)).slice(0, 3), size: 5 }, undefined])
  })
})

describe('hot likes', () => {
  const hot = createHotLikes(redis)
  // real times: the buckets expire at absolute times (EXPIREAT), which must lie ahead of Redis' clock
  const now = new Date()
  const ago = (minutes: number) => new Date(now.getTime() - minutes * 60_000)
  const score = async (postId: string) => {
    const scores = await Promise.all(hotBucketKeys(now).map((key) => redis.zscore(key, postId)))
    return scores.reduce((sum, s) => sum + Number(s ?? 0), 0)
  }

  it('count a like once, in the hour it was made, whatever the order and number of deliveries', async () => {
    const post = uuidv7()
    const likedAt = ago(190)
    expect(await hot.reconcile(post, 'a', likedAt, now)).toBe(1)
    expect(await hot.reconcile(post, 'a', likedAt, now)).toBe(0) // repeated
    await hot.reconcile(post, 'b', ago(30), now)
    expect(await score(post)).toBe(2)
    expect(await redis.zscore(hotLikesKey(hourOf(likedAt)), post)).toBe('1')
    expect(await redis.hget(hotLikersKey(hourOf(likedAt)), `${post}:a`)).toBe('1')

    // unliked (no like now), twice
    expect(await hot.reconcile(post, 'a', undefined, now)).toBe(-1)
    expect(await hot.reconcile(post, 'a', undefined, now)).toBe(0)
    expect(await score(post)).toBe(1)
    expect(await redis.zscore(hotLikesKey(hourOf(likedAt)), post)).toBeNull() // at 0: left the bucket

    // liked again later: counted in the new hour, the old one stays empty
    await hot.reconcile(post, 'a', ago(1), now)
    expect(await score(post)).toBe(2)
  })

  it('count nothing for a like older than the window, and expire a bucket 25 hours after its hour began', async () => {
    const post = uuidv7()
    expect(await hot.reconcile(post, 'z', ago(26 * 60), now)).toBe(0)
    expect(await score(post)).toBe(0)
    await hot.reconcile(post, 'y', ago(61), now)
    const hour = hourOf(ago(61))
    const ttl = await redis.ttl(hotLikesKey(hour))
    const expected = (hour + 25) * 3600 - Math.floor(Date.now() / 1000)
    expect(Math.abs(ttl - expected)).toBeLessThan(5)
  })
})
