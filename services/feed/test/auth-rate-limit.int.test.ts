import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FeedAuthHarness, form, startFeedAuth } from './auth-harness.js'

/**
 * The auth endpoints' rate limit (src/auth/auth-rate-limit.ts) against real Redis: FEED_AUTH_RATE_LIMIT_MAX
 * requests per client address and route in the window, then 429 problem+json with Retry-After.
 */
let h: FeedAuthHarness
beforeAll(async () => {
  h = await startFeedAuth({ FEED_AUTH_RATE_LIMIT_MAX: '3', FEED_AUTH_RATE_LIMIT_WINDOW_MS: '60000' })
})
afterAll(async () => {
  await h?.close()
})

const token = (remoteAddress: string) =>
  h.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    remoteAddress,
    ...form({ grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) }),
  })

describe('the auth rate limit', () => {
  it('refuses the fourth token request of an address within the window with 429 and Retry-After', async () => {
    const answers = [await token('192.0.2.1'), await token('192.0.2.1'), await token('192.0.2.1')]
    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 401])
    const refused = await token('192.0.2.1')
    expectProblem(refused, 429)
    expect((refused.json() as { type: string }).type).toMatch(/\/rate-limited$/)
    const retryAfter = Number(refused.headers['retry-after'])
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(60)

    // Another address has its own budget, and so has another route.
    expect((await token('192.0.2.2')).statusCode).toBe(401)
    const logout = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      remoteAddress: '192.0.2.1',
      payload: { refresh_token: 'A'.repeat(43) },
    })
    expect(logout.statusCode).toBe(204)
  })
})
