import { waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startWorkerHarness, type WorkerHarness } from './worker-harness.js'

/**
 * A measurement, not a test of speed (it asserts only that every entry arrived): the consistency window of the
 * personal feed, for an author with FANOUT_MAX_FOLLOWERS (10,000) followers, the largest that is fanned out, 2,000
 * of them active (Redis writes). 20 posts one after the other, then 20 at once; for each, the time from the API's
 * 201 to the last of its 10,001 user_feed rows (polled every 10 ms), and the worker's own feed_fanout_lag_seconds.
 * Skipped unless FEED_MEASURE_FANOUT=1 (it writes 400,000 rows):
 *
 *   FEED_MEASURE_FANOUT=1 bash infra/scripts/test.sh int services/feed/test/fanout-lag.int.test.ts
 *
 * docs/feed.md#consistency-window has the figures of this machine.
 */
const FOLLOWERS = 10_000
const POSTS = 20
const measure = process.env.FEED_MEASURE_FANOUT === '1'

let h: WorkerHarness
beforeAll(async () => {
  if (measure) h = await startWorkerHarness({ FANOUT_MAX_FOLLOWERS: String(FOLLOWERS) })
}, 60_000)
afterAll(async () => {
  await h?.close()
})

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]

function summary(label: string, ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const f = (v: number | undefined) => `${Math.round(v ?? 0)} ms`
  return `${label}: p50 ${f(percentile(sorted, 0.5))}, p99 ${f(percentile(sorted, 0.99))}, max ${f(sorted.at(-1))}`
}

describe.runIf(measure)('fan-out lag at FANOUT_MAX_FOLLOWERS followers', () => {
  it('is measured for posts one at a time and for a burst', async () => {
    const author = await h.newUser('measured')
    const followers = await h.addFollowers(author.user.id, FOLLOWERS)
    for (const id of followers.filter((_, i) => i % 5 === 0)) await h.activate(id)
    const complete = async (postId: string) => (await h.count('user_feed', { post_id: postId })) === FOLLOWERS + 1

    const oneByOne: number[] = []
    for (let i = 0; i < POSTS; i++) {
      const postId = await h.post(author)
      const started = performance.now()
      await waitComplete(() => complete(postId))
      oneByOne.push(performance.now() - started)
    }

    const started = performance.now()
    const burst = await Promise.all(Array.from({ length: POSTS }, () => h.post(author)))
    const done = await Promise.all(
      burst.map(async (postId) => {
        await waitComplete(() => complete(postId))
        return performance.now() - started
      }),
    )
    for (const postId of burst) expect(await complete(postId)).toBe(true)

    const lag = await h.workerRuntime?.registry.getSingleMetric('feed_fanout_lag_seconds')?.get()
    const values = (lag?.values ?? []) as { metricName?: string; labels: Record<string, unknown>; value: number }[]
    const buckets = values.filter((v) => v.metricName === 'feed_fanout_lag_seconds_bucket')
    const total = buckets.find((v) => v.labels.le === '+Inf')?.value ?? 0
    const within = (le: number) => buckets.find((v) => v.labels.le === le)?.value ?? 0
    console.log(
      [
        summary(`one post at a time (${POSTS})`, oneByOne),
        summary(`${POSTS} posts at once (from the first 201)`, done),
        `feed_fanout_lag_seconds (per batch of 1,000): ${total} batches, ${within(0.25)} within 0.25 s, ` +
          `${within(0.5)} within 0.5 s, ${within(1)} within 1 s, ${within(2)} within 2 s`,
      ].join('\n'),
    )
  }, 600_000)
})

async function waitComplete(check: () => Promise<boolean>): Promise<void> {
  await waitFor(check, { timeoutMs: 120_000, intervalMs: 10, message: 'every entry of the post' })
}
