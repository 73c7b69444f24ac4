import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeUserCursor } from '../src/queries/user-cursor.js'
import { type AnalyticsHarness, addDays, dayFromToday, event, startAnalytics } from './harness.js'

/** The read API's parameters (UTC days, bounded ranges, cursors) and the dashboard's files. */
let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics()
})
afterAll(async () => {
  await h?.close()
})

const get = (url: string) => h.app.inject({ method: 'GET', url })
const RANGE = 'https://event-platform.dev/problems/invalid-day-range'
const PARAMETER = 'https://event-platform.dev/problems/invalid-parameter'

describe('day ranges', () => {
  it('refuses from after to, a day that does not exist, and too long a range', async () => {
    expectProblem(await get('/v1/analytics/dau?from=2026-11-30&to=2026-11-01'), 400, { type: RANGE })
    expectProblem(await get('/v1/analytics/dau?from=2026-02-30&to=2026-03-01'), 400, { type: RANGE })
    expectProblem(await get('/v1/analytics/dau?from=2025-01-01&to=2026-01-02'), 400, { type: RANGE })
    expect((await get('/v1/analytics/dau?from=2025-01-01&to=2026-01-01')).statusCode).toBe(200) // 366 days
    expect((await get('/v1/analytics/retention/cohorts?from=2026-01-01&to=2026-04-02')).statusCode).toBe(200) // 92 days
    expectProblem(await get('/v1/analytics/retention/cohorts?from=2026-01-01&to=2026-04-03'), 400, { type: RANGE })
    expectProblem(await get('/v1/analytics/retention?day=2026-13-01'), 400, { type: RANGE })
  })

  it('refuses dates in another format, missing parameters and values out of their sets', async () => {
    for (const url of [
      '/v1/analytics/dau?from=2026-11-1&to=2026-11-30',
      '/v1/analytics/dau?from=01.11.2026&to=2026-11-30',
      '/v1/analytics/dau?from=2026-11-01',
      '/v1/analytics/retention?day=2026-11-01&include=everything',
      '/v1/analytics/retention?day=2026-11-01&limit=0',
    ]) {
      expectProblem(await get(url), 400, { type: PARAMETER })
    }
  })

  it('answers every day of a range, days to come included, as zero', async () => {
    const to = addDays(dayFromToday(0), 2)
    const dau = await h.dau(dayFromToday(-1), to)
    expect(dau.map((d) => d.day)).toEqual([-1, 0, 1, 2].map((n) => addDays(dayFromToday(0), n)))
    expect(dau.every((d) => d.users === 0)).toBe(true)
  })

  it('leaves the cohort shares of days still to come empty', async () => {
    expect((await h.post([event('c1', new Date().toISOString())])).statusCode).toBe(200)
    const [today] = await h.cohorts(dayFromToday(0), dayFromToday(0))
    expect(today).toEqual({
      day: dayFromToday(0),
      users: 1,
      retained: [1, 2, 3, 4, 5, 6, 7].map((k) => ({ after_days: k, users: null, share: null })),
    })
  })
})

describe('cursors', () => {
  it('refuses a cursor that no page handed out, or one of another day', async () => {
    const day = dayFromToday(-3)
    for (const cursor of ['garbage!', 'bm9wZQ', encodeUserCursor(dayFromToday(-4), 'u1')]) {
      expectProblem(await get(`/v1/analytics/retention?day=${day}&include=users&cursor=${cursor}`), 400, {
        type: 'https://event-platform.dev/problems/invalid-cursor',
      })
    }
    expect(
      (await get(`/v1/analytics/retention?day=${day}&include=users&cursor=${encodeUserCursor(day, 'u1')}`)).statusCode,
    ).toBe(200)
  })
})

describe('the dashboard', () => {
  it('serves its page, its script and uPlot from the service itself, under a same-origin CSP', async () => {
    const page = await get('/')
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/)
    const scripts = [...page.body.matchAll(/src="([^"]+)"/g)].map((m) => m[1])
    expect(scripts).toEqual(['/assets/uplot.min.js', '/assets/dashboard.js'])
    for (const path of [...scripts, '/assets/uplot.min.css', '/assets/dashboard.css']) {
      const res = await get(path as string)
      expect(res.statusCode, path).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/(javascript|css)/)
    }
    expect((await get('/assets/uplot.min.js')).body).toMatch(/uPlot/)
  })
})
