import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AnalyticsHarness, dayFromToday, event, startAnalytics } from './harness.js'

/**
 * ANALYTICS_READ_TOKEN (docs/analytics.md#api): where it is set, every read route asks for it, as a bearer token
 * compared in constant time, with a 401 problem otherwise; the dashboard's page and files stay public (the page asks
 * the reader for the token). Unset, the routes are open: every other test file of this service runs that way.
 */
const READ_TOKEN = 'test-read-token-0123456789'
const day = dayFromToday(-1)
const ROUTES = [
  `/v1/analytics/dau?from=${day}&to=${day}`,
  `/v1/analytics/retention?day=${day}`,
  `/v1/analytics/retention/cohorts?from=${day}&to=${day}`,
  `/v1/analytics/active-users?day=${day}`,
  `/v1/analytics/active-users/estimates?from=${day}&to=${day}`,
]

let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics({ ANALYTICS_READ_TOKEN: READ_TOKEN })
  expect((await h.post([event('reader', `${day}T12:00:00Z`)])).statusCode).toBe(200)
})
afterAll(async () => {
  await h?.close()
})

const get = (url: string, authorization?: string) =>
  h.app.inject({ method: 'GET', url, headers: authorization ? { authorization } : {} })

describe('the read token', () => {
  it('refuses every read route without it, with another one, or in another scheme', async () => {
    for (const url of ROUTES) {
      for (const authorization of [undefined, 'Bearer not-the-token-0123456789', `Basic ${READ_TOKEN}`, READ_TOKEN]) {
        const res = await get(url, authorization)
        expectProblem(res, 401, { type: 'https://event-platform.dev/problems/invalid-read-token' })
        expect(res.headers['www-authenticate']).toBe('Bearer realm="analytics"')
      }
    }
  })

  it('answers with it', async () => {
    for (const url of ROUTES) expect((await get(url, `Bearer ${READ_TOKEN}`)).statusCode, url).toBe(200)
    const dau = (await get(ROUTES[0] as string, `Bearer ${READ_TOKEN}`)).json()
    expect(dau).toEqual([{ day, users: 1 }])
  })

  it('keeps the dashboard page and its files public, and the ingest token apart', async () => {
    for (const url of ['/', '/assets/dashboard.js', '/assets/uplot.min.js'])
      expect((await get(url)).statusCode).toBe(200)
    // The read token is not the ingest token, nor the other way round.
    const post = await h.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: `Bearer ${READ_TOKEN}` },
      payload: { events: [event('x', `${day}T12:00:00Z`)] },
    })
    expectProblem(post, 401, { type: 'https://event-platform.dev/problems/invalid-ingest-token' })
  })

  it('names the scheme in the OpenAPI document', async () => {
    const doc = (await get('/docs/json')).json() as {
      components: { securitySchemes: Record<string, unknown> }
      paths: Record<string, { get?: { security?: unknown } }>
    }
    expect(doc.components.securitySchemes.readToken).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(doc.paths['/v1/analytics/dau']?.get?.security).toEqual([{ readToken: [] }])
  })
})
