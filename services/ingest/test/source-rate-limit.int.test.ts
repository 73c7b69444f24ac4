import { expectProblem } from '@platform/http/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { type IngestHarness, paymentEvent, signedPost, startIngest } from './harness.js'

/**
 * Each source's rate limit (services/ingest/src/source-rate-limit.ts) against real Redis: one budget per source for
 * all ingest instances that share a Redis prefix, and webhooks still accepted while Redis is unreachable.
 */
const started: IngestHarness[] = []
afterAll(async () => {
  await Promise.all(started.map((h) => h.close()))
})

const post = (h: IngestHarness, source: 'limited' | 'payment') =>
  h.app.inject(signedPost(source, paymentEvent('charge.succeeded')))

describe("a source's rate limit", () => {
  it('is one budget for all instances: the fourth request within the window is refused by whichever gets it', async () => {
    const a = await startIngest()
    const b = await startIngest({ REDIS_PREFIX: a.env.env.REDIS_PREFIX as string })
    started.push(a, b)
    // `limited`: 3 requests per minute (harness).
    const answers = [await post(a, 'limited'), await post(b, 'limited'), await post(a, 'limited')]
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200])
    const refused = await post(b, 'limited')
    expectProblem(refused as never, 429)
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // Accepted webhooks carry none of the plugin's X-RateLimit headers.
    expect(answers[0]?.headers['x-ratelimit-remaining']).toBeUndefined()
    // Another source has its own budget.
    expect((await post(b, 'payment')).statusCode).toBe(200)
  })

  it('is skipped while Redis is unreachable: webhooks are still accepted', async () => {
    // Nothing listens on port 1; the client fails each command within its 500 ms command timeout.
    const h = await startIngest({ REDIS_URL: 'redis://127.0.0.1:1' })
    started.push(h)
    const answers = []
    for (let i = 0; i < 5; i++) answers.push(await post(h, 'limited'))
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200])
  })
})
