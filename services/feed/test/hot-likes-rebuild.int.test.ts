import { createLogger } from '@platform/logging'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHotLikesRebuild } from '../src/queues/hot-likes-rebuild.js'
import { createHotLikes, type HotLikes } from '../src/timelines/hot-likes.js'
import {
  HOT_WINDOW_HOURS,
  hotBucketKeys,
  hotBucketsCompleteKey,
  hotLikersKey,
  hotLikesKey,
  hourOf,
} from '../src/timelines/keys.js'
import { command, type TestUser } from './commands-harness.js'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * The hot feed's like buckets rebuilt from `likes` after Redis lost them (queues/hot-likes-rebuild.ts), through the
 * real API, broker, worker, PostgreSQL and Redis: the worker notices the lost marker and restores every like of
 * the window exactly once, and a rebuild holds the likes handlers back, so an unlike handled during it is not
 * undone by the rebuild's older read.
 */
let h: WorkerHarness
let redis: NonNullable<WorkerHarness['workerRuntime']>['redis']
let hotLikes: HotLikes
const silent = createLogger({ service: 'feed-test', level: 'silent' })

beforeAll(async () => {
  // The worker checks every 200 ms here (10 s by default).
  h = await startWorkerHarness({ FEED_HOT_REBUILD_CHECK_MS: '200' })
  if (!h.workerRuntime) throw new Error('the worker runs in this process')
  redis = h.workerRuntime.redis
  hotLikes = createHotLikes(redis)
  await eventually(() => hotLikes.isComplete(), 'the worker marks the (empty) buckets whole at start')
})
afterAll(async () => {
  await h?.close()
})

/** A post's hot score: its likes summed over the window's buckets (as the ranking sums them). */
async function score(postId: string): Promise<number> {
  const scores = await Promise.all(hotBucketKeys().map((key) => redis.zscore(key, postId)))
  return scores.reduce((sum, s) => sum + Number(s ?? 0), 0)
}

/** What a flush of Redis does to the hot feed: every bucket, its likers and (unless kept) the marker gone. */
async function loseBuckets(options: { keepMarker?: boolean } = {}): Promise<void> {
  const hour = hourOf(new Date())
  const hours = Array.from({ length: HOT_WINDOW_HOURS + 2 }, (_, i) => hour - i)
  const keys = hours.flatMap((hr) => [hotLikesKey(hr), hotLikersKey(hr)])
  await redis.del(...keys, ...(options.keepMarker ? [] : [hotBucketsCompleteKey()]))
}

async function like(fan: TestUser, postId: string, method: 'PUT' | 'DELETE' = 'PUT'): Promise<void> {
  const res = await h.app.inject({ method, url: `/v1/posts/${postId}/like`, headers: command(fan) })
  expect(res.statusCode).toBe(200)
}

describe('the hot buckets rebuild', () => {
  it('restores every like of the window once after Redis lost them, and none older', async () => {
    const author = await h.newUser('rebuilt')
    const [a, b] = [await h.post(author), await h.post(author)]
    const fans = [await h.newUser('rfan0'), await h.newUser('rfan1'), await h.newUser('rfan2')]
    for (const fan of fans) await like(fan, a)
    await like(fans[0] as TestUser, b)
    await eventually(async () => (await score(a)) === 3 && (await score(b)) === 1, 'the likes in the buckets')
    // A like of two days ago (made before this worker ran): outside the window, in no bucket before or after.
    await h.env.schema.sql`
      update likes set created_at = now() - interval '2 days'
      where post_id = ${b} and user_id = ${(fans[0] as TestUser).user.id}`
    await like(fans[1] as TestUser, b)
    await eventually(async () => (await score(b)) === 2, 'the recent like of b')

    await loseBuckets()
    expect([await score(a), await score(b)]).toEqual([0, 0])
    // The worker's check (every 200 ms) finds the marker gone and rebuilds from likes.
    await eventually(() => hotLikes.isComplete(), 'the worker rebuilds the buckets')
    expect([await score(a), await score(b)]).toEqual([3, 1])

    // Whole again: a second run does nothing, and a rebuild over whole buckets would count nothing twice.
    const rebuild = createHotLikesRebuild({ sql: h.env.schema.sql, hotLikes, logger: silent, intervalMs: 60_000 })
    expect(await rebuild.runOnce()).toBeUndefined()
    await redis.del(hotBucketsCompleteKey())
    const again = await rebuild.runOnce()
    expect(again).toMatchObject({ restored: 0 })
    expect(again?.likes).toBeGreaterThanOrEqual(4)
    expect([await score(a), await score(b)]).toEqual([3, 1])
  })

  it('holds the likes handlers back while it runs: an unlike meanwhile ends uncounted', async () => {
    const author = await h.newUser('gated')
    const postId = await h.post(author)
    const fans = [await h.newUser('gfan0'), await h.newUser('gfan1')]
    for (const fan of fans) await like(fan, postId)
    await eventually(async () => (await score(postId)) === 2, 'two likes in the buckets')

    // A rebuild that stops after its read of likes, before its Redis writes, until the test lets it go on. It
    // takes the buckets for lost while the marker stays, so the worker's own check leaves this run alone.
    let reached!: () => void
    let release!: () => void
    const atGate = new Promise<void>((resolve) => {
      reached = resolve
    })
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const gated: HotLikes = {
      ...hotLikes,
      isComplete: async () => false,
      async reconcileMany(likes, now) {
        reached()
        await gate
        return hotLikes.reconcileMany(likes, now)
      },
    }
    // pages of 1,000: the whole window (this file's few likes) is read before the gate
    const rebuild = createHotLikesRebuild({
      sql: h.env.schema.sql,
      hotLikes: gated,
      logger: silent,
      intervalMs: 60_000,
    })
    await loseBuckets({ keepMarker: true })
    const running = rebuild.runOnce()
    await atGate
    // The rebuild has read both likes. Now fan 0 unlikes: the command commits, its handler must wait for the lock.
    await like(fans[0] as TestUser, postId, 'DELETE')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(await score(postId)).toBe(0)
    release()
    // It restores what it read: every like of the window (this post's two and the first test's), all lost.
    const report = await running
    expect(report?.likes).toBeGreaterThanOrEqual(2)
    expect(report?.restored).toBe(report?.likes)
    // Then the handler reconciles against the likes table as it is now: one like left.
    await eventually(async () => (await score(postId)) === 1, 'the unlike counted after the rebuild')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await score(postId)).toBe(1)
  })
})
