import { v7 as uuidv7 } from 'uuid'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pruneFanoutJobs } from '../src/projections/prune-fanout-jobs.js'
import { selectLargeFollowees } from '../src/projections/select-large-followees.js'
import { hotBucketKeys } from '../src/timelines/keys.js'
import { command, type TestUser } from './commands-harness.js'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * The query side end to end, through the real broker, PostgreSQL and Redis: a command through the API, its event
 * through the outbox and RabbitMQ, the worker's consumers, and the read model (user_feed, large_follows, the Redis
 * timelines and author lists, the hot buckets). A small FANOUT_MAX_FOLLOWERS (3) and batch size (2) make the large
 * account path and the paging reachable with a handful of users.
 */
let h: WorkerHarness
beforeAll(async () => {
  h = await startWorkerHarness({ FANOUT_MAX_FOLLOWERS: '3', FEED_FANOUT_BATCH_SIZE: '2', FEED_BACKFILL_POSTS: '2' })
})
afterAll(async () => {
  await h?.close()
})

/** What a follower's feed holds once merged: user_feed's posts and the posts of the large accounts it follows. */
async function mergedFeed(userId: string): Promise<string[]> {
  const own = await h.feedOf(userId)
  const large = await selectLargeFollowees(h.env.schema.sql, userId)
  const lists = await h.store.readAuthorPosts(large, { limit: 10_000 })
  const pulled = [...lists.values()].flatMap((list) => list?.postIds ?? [])
  return [...new Set([...own, ...pulled])].sort().reverse()
}

async function usersFollowing(author: TestUser, count: number, handle: string): Promise<TestUser[]> {
  const users: TestUser[] = []
  for (let i = 0; i < count; i++) {
    const user = await h.newUser(`${handle}${i}`)
    await h.follow(user, author.user.id)
    users.push(user)
  }
  return users
}

describe('fan-out on write (an author at or below FANOUT_MAX_FOLLOWERS)', () => {
  it('puts a post made through the API into user_feed of every follower and the author, and into active timelines', async () => {
    const author = await h.newUser('author')
    const [active, inactive, third] = (await usersFollowing(author, 3, 'reader')) as [TestUser, TestUser, TestUser]
    await h.activate(active.user.id)
    await h.activate(author.user.id)

    const postId = await h.post(author)
    for (const user of [author, active, inactive, third]) {
      await eventually(
        async () => (await h.feedOf(user.user.id)).includes(postId),
        `the post in ${user.user.handle}'s feed`,
      )
    }
    // Redis is written after the batch's commit: a moment later
    for (const user of [active, author]) {
      await eventually(async () => (await h.timelineOf(user.user.id))?.length === 1, 'the post in the timeline')
      expect(await h.timelineOf(user.user.id)).toEqual([postId])
    }
    // inactive users get no Redis write: their next read rebuilds from user_feed
    expect(await h.timelineOf(inactive.user.id)).toBeUndefined()
    expect((await h.store.readTimeline(inactive.user.id, { limit: 10 })).state).toBe('missing')
    // 3 followers in pages of 2: two batches, the author riding with the first
    const [job] = await h.env.schema.sql<{ batches: number; followers: number; finished: boolean }[]>`
      select batches, followers, finished_at is not null as finished from fanout_jobs where post_id = ${postId}`
    expect(job).toEqual({ batches: 2, followers: 3, finished: true })
    expect(await h.count('user_feed', { post_id: postId })).toBe(4)
  })

  it('backfills the followee’s newest posts on follow and removes them on unfollow, in PostgreSQL and Redis', async () => {
    const author = await h.newUser('backfilled')
    const posts = [await h.post(author), await h.post(author), await h.post(author)]
    const reader = await h.newUser('newcomer')
    await h.activate(reader.user.id)

    await h.follow(reader, author.user.id)
    const newest = posts.slice(1).reverse() // FEED_BACKFILL_POSTS = 2
    await eventually(async () => (await h.feedOf(reader.user.id)).length === 2, 'the backfill in user_feed')
    expect(await h.feedOf(reader.user.id)).toEqual(newest)
    await eventually(async () => (await h.timelineOf(reader.user.id))?.length === 2, 'the backfill in Redis')
    expect(await h.timelineOf(reader.user.id)).toEqual(newest)

    await h.unfollow(reader, author.user.id)
    await eventually(async () => (await h.feedOf(reader.user.id)).length === 0, 'the unfollow’s removal in user_feed')
    await eventually(async () => (await h.timelineOf(reader.user.id))?.length === 0, 'the removal in Redis')

    // following again brings them back: the handlers act on the follow as it is now
    await h.follow(reader, author.user.id)
    await eventually(async () => (await h.timelineOf(reader.user.id))?.length === 2, 'the second backfill')
    expect(await h.feedOf(reader.user.id)).toEqual(newest)
    expect(await h.timelineOf(reader.user.id)).toEqual(newest)
  })
})

describe('large accounts (more than FANOUT_MAX_FOLLOWERS followers)', () => {
  it('are not fanned out, yet every follower ends with the same posts once merged as below the threshold', async () => {
    const small = await h.newUser('small')
    const large = await h.newUser('large')
    const smallFollowers = await usersFollowing(small, 3, 'sf')
    const largeFollowers = await usersFollowing(large, 4, 'lf')
    const smallPosts = [await h.post(small), await h.post(small)]
    const largePosts = [await h.post(large), await h.post(large)]

    for (const f of smallFollowers) {
      await eventually(async () => (await mergedFeed(f.user.id)).length === 2, 'the small author’s posts')
      expect(await mergedFeed(f.user.id)).toEqual([...smallPosts].reverse())
    }
    for (const f of largeFollowers) {
      await eventually(async () => (await mergedFeed(f.user.id)).length === 2, 'the large author’s posts, merged')
      expect(await mergedFeed(f.user.id)).toEqual([...largePosts].reverse())
      expect(await selectLargeFollowees(h.env.schema.sql, f.user.id)).toEqual([large.user.id])
    }
    // nothing was fanned out: no batch for the large account's posts (a follow handled after the first post may
    // still have backfilled, which the merge absorbs)
    const jobs = await eventually(async () => {
      const [row] = await h.env.schema.sql<{ batches: number; finished: number }[]>`
        select sum(batches)::int as batches, count(finished_at)::int as finished
        from fanout_jobs where post_id = any(${largePosts}::uuid[])`
      return row?.finished === 2 && row
    }, 'both jobs finished')
    expect(jobs).toEqual({ batches: 0, finished: 2 })
    // the author sees their own posts either way
    await eventually(async () => (await h.feedOf(large.user.id)).length === 2, 'the large author’s own feed')

    // a new follower of a large account is merged, not backfilled; an unfollow ends the merge
    const late = await h.newUser('latecomer')
    await h.follow(late, large.user.id)
    await eventually(async () => (await mergedFeed(late.user.id)).length === 2, 'the merge for a new follower')
    expect(await h.feedOf(late.user.id)).toEqual([])
    await h.unfollow(late, large.user.id)
    await eventually(async () => (await mergedFeed(late.user.id)).length === 0, 'no merge after the unfollow')
  })
})

describe('likes', () => {
  it('count in the hourly bucket of the like, once, and leave it on unlike', async () => {
    const author = await h.newUser('liked')
    const postId = await h.post(author)
    const fans = [await h.newUser('fan0'), await h.newUser('fan1')]
    const redis = h.workerRuntime?.redis
    if (!redis) throw new Error('the worker runs in this process')
    // the post's hot score: its likes summed over the window's buckets (as the ranking sums them)
    const score = async () => {
      const scores = await Promise.all(hotBucketKeys().map((key) => redis.zscore(key, postId)))
      return scores.reduce((sum, s) => sum + Number(s ?? 0), 0)
    }

    for (const fan of fans) {
      await h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(fan) })
    }
    await eventually(async () => (await score()) === 2, 'two likes in the bucket')
    await h.app.inject({ method: 'DELETE', url: `/v1/posts/${postId}/like`, headers: command(fans[0] as TestUser) })
    await eventually(async () => (await score()) === 1, 'one like left after the unlike')
  })
})

describe('pruneFanoutJobs', () => {
  it('deletes jobs finished longer ago than the retention, never unfinished or recent ones', async () => {
    const { sql } = h.env.schema
    const [old, recent, open] = [uuidv7(), uuidv7(), uuidv7()]
    const author = uuidv7()
    await sql`
      insert into fanout_jobs (post_id, author_id, finished_at) values
        (${old}, ${author}, now() - interval '8 days'),
        (${recent}, ${author}, now() - interval '6 days'),
        (${open}, ${author}, null)`
    expect(await pruneFanoutJobs(sql, 7, 1000)).toBe(1)
    const left = await sql<{ post_id: string }[]>`
      select post_id from fanout_jobs where post_id in (${old}, ${recent}, ${open})`
    expect(left.map((r) => r.post_id).sort()).toEqual([recent, open].sort())
  })
})
