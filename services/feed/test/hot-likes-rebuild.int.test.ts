import { createLogger } from '@platform/logging'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHotLikesRebuild } from '../src/queues/hot-likes-rebuild.js'
import { createHotLikes, type HotLikes } from '../src/timelines/hot-likes.js'
import {
  HOT_BUCKETS_COMPLETE_KEY,
  HOT_REBUILD_TOKEN_KEY,
  HOT_WINDOW_HOURS,
  hotBucketKeys,
  hotLikersKey,
  hotLikesKey,
  hourOf,
} from '../src/timelines/keys.js'
import { command, type TestUser } from './commands-harness.js'
import { eventually, startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * The hot feed's like buckets rebuilt from `likes` after Redis lost them (queues/hot-likes-rebuild.ts), through the
 * real API, broker, worker, PostgreSQL and Redis: the worker notices the lost marker and restores every like of the
 * window exactly once; during a rebuild the likes handlers step aside (and the worker's other consumers go on), and
 * an unlike handled then is not undone by the rebuild's older read; one rebuild at a time; no marker over buckets a
 * failed rebuild or an emptied Redis left incomplete.
 */
let h: WorkerHarness
let redis: NonNullable<WorkerHarness['workerRuntime']>['redis']
let hotLikes: HotLikes
const silent = createLogger({ service: 'feed-test', level: 'silent' })

beforeAll(async () => {
  // The worker checks every 200 ms here (10 s by default); a likes handler retried during a rebuild has 100
  // attempts, 500 ms apart (~50 s: far more than a gate of these tests stays shut on a loaded machine).
  h = await startWorkerHarness({
    FEED_HOT_REBUILD_INTERVAL_MS: '200',
    FEED_WORKER_RETRY_DELAYS_MS: '100,500',
    FEED_WORKER_MAX_ATTEMPTS: '100',
  })
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
  await redis.del(...keys, ...(options.keepMarker ? [] : [HOT_BUCKETS_COMPLETE_KEY]))
}

/** The keys of this test's Redis prefix matching `pattern`, without the prefix (ioredis does not prefix KEYS). */
async function keysMatching(pattern: string): Promise<string[]> {
  const prefix = redis.options.keyPrefix ?? ''
  return (await redis.keys(`${prefix}${pattern}`)).map((key) => key.slice(prefix.length))
}

async function like(fan: TestUser, postId: string, method: 'PUT' | 'DELETE' = 'PUT'): Promise<void> {
  const res = await h.app.inject({ method, url: `/v1/posts/${postId}/like`, headers: command(fan) })
  expect(res.statusCode).toBe(200)
}

/**
 * A rebuild of its own that stops before each page's Redis writes until `release()`; `onPage` may fail it. `run()`
 * forces it (after the worker's rebuild, if one is under way, whatever the marker says); `rebuild.runOnce()` alone
 * takes the buckets for lost, and skips while another rebuild holds the lock. Reaching the gate needs a like in the
 * window: each test makes its own.
 */
function gatedRebuild(options: { pageSize?: number; onPage?: (page: number) => unknown } = {}) {
  let reached!: () => void
  let release!: () => void
  const atGate = new Promise<void>((resolve) => {
    reached = resolve
  })
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let pages = 0
  const gated: HotLikes = {
    ...hotLikes,
    isComplete: async () => false,
    async restoreMany(token, likes, counted, now) {
      reached()
      await gate
      await options.onPage?.(++pages)
      return hotLikes.restoreMany(token, likes, counted, now)
    },
  }
  const rebuild = createHotLikesRebuild({
    sql: h.env.schema.sql,
    hotLikes: gated,
    logger: silent,
    intervalMs: 60_000,
    ...(options.pageSize ? { pageSize: options.pageSize } : {}),
  })
  return { rebuild, atGate, release, run: () => rebuild.runOnce({ force: true }) }
}

describe('the hot buckets rebuild', () => {
  it('restores every like of the window once after Redis lost them', async () => {
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

    // Over whole buckets a rebuild counts nothing twice.
    const again = gatedRebuild()
    again.release()
    const report = await again.run()
    expect(report).toMatchObject({ restored: 0, complete: true })
    expect(report?.likes).toBeGreaterThanOrEqual(4)
    expect([await score(a), await score(b)]).toEqual([3, 1])
  })

  it('steps the likes handlers aside and lets the other consumers go on; an unlike meanwhile ends uncounted', async () => {
    const author = await h.newUser('gated')
    const postId = await h.post(author)
    const fans = [await h.newUser('gfan0'), await h.newUser('gfan1')]
    for (const fan of fans) await like(fan, postId)
    await eventually(async () => (await score(postId)) === 2, 'two likes in the buckets')
    const reader = await h.newUser('greader')
    await h.follow(reader, author.user.id)

    const { run, atGate, release } = gatedRebuild()
    await loseBuckets({ keepMarker: true })
    const running = run()
    await atGate
    // The rebuild has read both likes. Fan 0 unlikes; a dozen more likes arrive (more than the worker's pool of 10
    // connections, which handlers waiting for the rebuild would hold); and the author posts.
    await like(fans[0] as TestUser, postId, 'DELETE')
    const others = await Promise.all(Array.from({ length: 12 }, (_, i) => h.newUser(`gmore${i}`)))
    const morePost = await h.post(author)
    for (const other of others) await like(other, morePost)
    const fresh = await h.post(author)
    // The fan-out is not held up by the rebuild.
    await eventually(async () => (await h.feedOf(reader.user.id)).includes(fresh), 'the fan-out during the rebuild')
    release()
    // It restores what it read: every like of the window (this post's two, the first test's), all lost.
    const report = await running
    expect(report?.likes).toBeGreaterThanOrEqual(2)
    expect(report?.restored).toBe(report?.likes)
    // Then the handlers, retried, reconcile against the likes table as it is now.
    await eventually(async () => (await score(postId)) === 1, 'the unlike counted after the rebuild')
    await eventually(async () => (await score(morePost)) === 12, 'the likes made during the rebuild')
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(await score(postId)).toBe(1)
  })

  it('runs in one worker at a time; a forced one waits for the one under way', async () => {
    const author = await h.newUser('single')
    await like(await h.newUser('sfan'), await h.post(author))
    const first = gatedRebuild()
    const second = gatedRebuild()
    const forced = gatedRebuild()
    forced.release()
    const running = first.run()
    await first.atGate
    // The second finds the rebuild's lock held and skips its turn, without reading or writing; the forced one (the
    // seed's) waits for the lock.
    expect(await second.rebuild.runOnce()).toBeUndefined()
    let forcedDone = false
    const waiting = forced.run().finally(() => {
      forcedDone = true
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(forcedDone).toBe(false)
    first.release()
    expect(await running).toMatchObject({ complete: true })
    expect(await waiting).toMatchObject({ complete: true, restored: 0 })
  })

  it('counts each like once whatever Redis kept of the buckets, and ranks by the old ones until the swap', async () => {
    const author = await h.newUser('evicted')
    const postId = await h.post(author)
    const fans = [await h.newUser('efan0'), await h.newUser('efan1')]
    for (const fan of fans) await like(fan, postId)
    await eventually(async () => (await score(postId)) === 2, 'two likes in the buckets')
    // An eviction that took the likers of this hour and kept its bucket: counting into the live bucket would make 4.
    await redis.del(hotLikersKey(hourOf(new Date())))
    const { run, atGate, release } = gatedRebuild()
    const running = run()
    await atGate
    expect(await score(postId)).toBe(2)
    release()
    expect(await running).toMatchObject({ complete: true })
    expect(await score(postId)).toBe(2)
    expect(await redis.hlen(hotLikersKey(hourOf(new Date())))).toBeGreaterThanOrEqual(2)
    // The rebuild's copies are gone with the swap.
    expect(await keysMatching('feed:{hot}:rebuild:*')).toEqual([])
  })

  it('swaps in no copy Redis evicted part of, and drops the copies of a rebuild that failed or was refused', async () => {
    const author = await h.newUser('copies')
    const postId = await h.post(author)
    const fans = [await h.newUser('cfan0'), await h.newUser('cfan1')]
    for (const fan of fans) await like(fan, postId)
    await eventually(async () => (await score(postId)) === 2, 'two likes in the buckets')
    const copies = () => keysMatching('feed:{hot}:rebuild:*')
    // One like per page: before the second page's write, an eviction takes the likers of the first page's copy.
    const evicted = gatedRebuild({
      pageSize: 1,
      onPage: async (page) => {
        if (page !== 2) return
        const likers = await keysMatching('feed:{hot}:rebuild:*:likers:*')
        expect(likers.length).toBeGreaterThan(0)
        await redis.del(...likers)
      },
    })
    evicted.release()
    expect(await evicted.run()).toMatchObject({ complete: false, restored: 0 })
    // Read at once on the worker's connection: before its next check could have begun a rebuild of its own.
    expect(await copies()).toEqual([])
    expect(await score(postId)).toBe(2)
    await eventually(() => hotLikes.isComplete(), 'the worker rebuilds after the refused one')

    const failing = gatedRebuild({
      pageSize: 1,
      onPage: (page) => {
        if (page === 2) throw new Error('Redis went away here')
      },
    })
    failing.release()
    await expect(failing.run()).rejects.toThrow('Redis went away here')
    expect(await copies()).toEqual([])
    expect(await score(postId)).toBe(2)
  })

  it('sets no marker over buckets that a failed rebuild or an emptied Redis left incomplete', async () => {
    const author = await h.newUser('partial')
    const posts = [await h.post(author), await h.post(author), await h.post(author)]
    const fan = await h.newUser('pfan')
    for (const postId of posts) await like(fan, postId)
    await eventually(async () => (await score(posts[2] as string)) === 1, 'the likes in the buckets')

    // Redis emptied during the rebuild: its token went with the buckets (and the marker), so it sets no marker.
    const emptied = gatedRebuild()
    const running = emptied.run()
    await emptied.atGate
    await redis.del(HOT_REBUILD_TOKEN_KEY, HOT_BUCKETS_COMPLETE_KEY)
    emptied.release()
    expect(await running).toMatchObject({ complete: false, restored: 0 })
    // Read at once on the worker's own Redis connection: before the worker's next check could have rebuilt them.
    expect(await redis.exists(HOT_BUCKETS_COMPLETE_KEY)).toBe(0)
    await eventually(() => hotLikes.isComplete(), 'the worker rebuilds after the emptied one')

    // A rebuild that dies after its first page of one like leaves the marker unset: the worker rebuilds again. The
    // buckets are lost once it holds the rebuild's lock (so the worker's check waits for it) and has read the likes.
    const failing = gatedRebuild({
      pageSize: 1,
      onPage: (page) => {
        if (page === 2) throw new Error('the worker died here')
      },
    })
    const failed = failing.run()
    await failing.atGate
    await loseBuckets()
    failing.release()
    await expect(failed).rejects.toThrow('the worker died here')
    await eventually(() => hotLikes.isComplete(), 'the worker rebuilds after the failed one')
    expect(await Promise.all(posts.map(score))).toEqual([1, 1, 1])
  })
})
