import { createTcpProxy, redisPrefix, type TcpProxy, testUrls } from '@platform/testing'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createRedis, problemTypes, type ServiceApp } from '../index.js'
import { expectProblem } from '../lib/testing.js'
import { buildTestApp, TEST_CONFIG } from './helpers.js'

const prefix = redisPrefix('http_rl')
const config = { ...TEST_CONFIG, REDIS_PREFIX: prefix, RATE_LIMIT_MAX: 2, RATE_LIMIT_WINDOW_MS: 60_000 }
/** Without a keyPrefix, to see the keys exactly as stored. */
const admin = new Redis(testUrls().redisUrl)
const opened: { close(): unknown }[] = []

async function limitedApp(redisUrl = testUrls().redisUrl, overrides: { TRUST_PROXY?: string } = {}) {
  const redis = createRedis({ REDIS_URL: redisUrl, REDIS_PREFIX: prefix })
  const { app } = await buildTestApp({ config: { ...config, ...overrides }, redis, rateLimit: {} })
  app.get('/limited', async () => 'ok')
  opened.push({ close: () => app.close() }, { close: () => redis.disconnect() })
  return app
}

const get = (app: ServiceApp, url: string) => app.inject({ method: 'GET', url })

afterEach(async () => {
  for (const o of opened.splice(0)) await o.close()
  const keys = await admin.keys(`${prefix}*`)
  if (keys.length > 0) await admin.del(...keys)
})
afterAll(() => admin.quit())

describe('rate limit in Redis', () => {
  it('answers 429 problem+json with Retry-After once the budget is spent, counting under REDIS_PREFIX', async () => {
    const app = await limitedApp()
    expect((await get(app, '/limited')).headers['x-ratelimit-remaining']).toBe('1')
    expect((await get(app, '/limited')).statusCode).toBe(200)
    const res = await get(app, '/limited')
    expectProblem(res, 429, { type: problemTypes.rateLimited.type, title: 'Too Many Requests' })
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(50)
    // The client's keyPrefix is the service prefix: written once, not twice.
    expect(await admin.keys(`${prefix}*`)).toEqual([`${prefix}rate-limit:127.0.0.1`])
  })

  it('keys on the address a trusted proxy forwards (TRUST_PROXY) and ignores X-Forwarded-For otherwise', async () => {
    const behind = (app: ServiceApp, client: string) =>
      app.inject({ method: 'GET', url: '/limited', remoteAddress: '10.0.0.5', headers: { 'x-forwarded-for': client } })
    // Behind a trusted load balancer: each client has its own budget.
    const trusting = await limitedApp(undefined, { TRUST_PROXY: '10.0.0.0/8' })
    expect((await behind(trusting, '203.0.113.1')).statusCode).toBe(200)
    expect((await behind(trusting, '203.0.113.1')).statusCode).toBe(200)
    expect((await behind(trusting, '203.0.113.1')).statusCode).toBe(429)
    expect((await behind(trusting, '203.0.113.2')).statusCode).toBe(200)
    expect((await admin.keys(`${prefix}*`)).sort()).toEqual([
      `${prefix}rate-limit:203.0.113.1`,
      `${prefix}rate-limit:203.0.113.2`,
    ])
    // Not trusted (the default): a client cannot pick its key by sending the header; the peer address counts.
    const direct = await limitedApp()
    expect((await behind(direct, '198.51.100.1')).statusCode).toBe(200)
    expect((await behind(direct, '198.51.100.2')).statusCode).toBe(200)
    expect((await behind(direct, '198.51.100.3')).statusCode).toBe(429)
  })

  it('shares one budget between instances and leaves health and metrics alone', async () => {
    const one = await limitedApp()
    const two = await limitedApp()
    expect((await get(one, '/limited')).statusCode).toBe(200)
    expect((await get(two, '/limited')).statusCode).toBe(200)
    expect((await get(one, '/limited')).statusCode).toBe(429)
    for (let i = 0; i < 4; i++) {
      expect((await get(two, '/health/live')).statusCode).toBe(200)
      expect((await get(two, '/metrics')).statusCode).toBe(200)
    }
  })

  it('counts concurrent requests exactly when their increments share one round trip', async () => {
    const app = await limitedApp()
    const responses = await Promise.all(Array.from({ length: 10 }, () => get(app, '/limited')))
    expect(responses.filter((r) => r.statusCode === 200)).toHaveLength(2)
    expect(responses.filter((r) => r.statusCode === 429)).toHaveLength(8)
    // Each admitted request got its own place in the window: remaining 1, then 0.
    const remaining = responses.filter((r) => r.statusCode === 200).map((r) => r.headers['x-ratelimit-remaining'])
    expect(remaining.sort()).toEqual(['0', '1'])
    expect(await admin.get(`${prefix}rate-limit:127.0.0.1`)).toBe('10')
    expect(await admin.pttl(`${prefix}rate-limit:127.0.0.1`)).toBeGreaterThan(50_000)
  })

  describe('when Redis is unreachable', () => {
    let proxy: TcpProxy
    beforeAll(async () => {
      const redis = new URL(testUrls().redisUrl)
      proxy = await createTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
    })
    afterAll(() => proxy.close())

    it('lets requests through (skipOnError) without waiting long', async () => {
      const app = await limitedApp(proxy.url(testUrls().redisUrl))
      expect((await get(app, '/limited')).headers['x-ratelimit-remaining']).toBe('1')
      proxy.cut()
      for (let i = 0; i < 4; i++) {
        const started = Date.now()
        const res = await get(app, '/limited')
        expect(res.statusCode).toBe(200)
        expect(Date.now() - started).toBeLessThan(2_000)
      }
      proxy.restore()
    })
  })
})
