import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActiveUserEstimates, ActiveUsers } from '../src/queries/answers.js'
import { rebuildRollups } from '../src/rollup/rebuild.js'
import { type AnalyticsHarness, addDays, dayFromToday, event, startAnalytics } from './harness.js'

/**
 * Weekly and monthly active users (docs/analytics.md#weekly-and-monthly-active-users): the exact count of one day's
 * window from user_day, equal to the raw query over events and to a count made here; the estimates from the daily
 * HyperLogLog sketches, kept by the ingestion path (late events too) and by the rebuild; their parameters; and the
 * 501 of a database without the hll extension.
 */
let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics()
})
afterAll(async () => {
  await h?.close()
})

const get = (url: string) => h.app.inject({ method: 'GET', url })
const at = (day: string, time = '12:00:00') => `${day}T${time}Z`

/** The users active on at least one of the `window` days ending on `day`, by the test's own count. */
function expected(active: Map<string, Set<string>>, day: string, window: number): number {
  const users = new Set<string>()
  for (let i = 0; i < window; i++) for (const u of active.get(addDays(day, -i)) ?? []) users.add(u)
  return users.size
}

describe('active users of a window', () => {
  // 40 days back from yesterday: users active on chosen days, a user at 23:59:59 and 00:00:00, duplicates, a gap.
  const last = dayFromToday(-1)
  const active = new Map<string, Set<string>>()
  const events: ReturnType<typeof event>[] = []
  function activeOn(user: string, day: string, time?: string) {
    events.push(event(user, at(day, time)))
    active.set(day, (active.get(day) ?? new Set()).add(user))
  }

  beforeAll(async () => {
    for (let u = 0; u < 300; u++) {
      // User u is active every (u % 9 + 1) days, from u % 5 days back: a spread of weekly and monthly patterns.
      for (let back = u % 5; back < 40; back += (u % 9) + 1) activeOn(`w${u}`, addDays(last, -back))
    }
    activeOn('midnight', addDays(last, -7), '23:59:59')
    activeOn('midnight', addDays(last, -6), '00:00:00')
    const again = events.slice(0, 50) // delivered twice: counted once
    expect((await h.post([...events, ...again])).statusCode).toBe(200)
  })

  it('counts each window exactly, as the raw query over events and the test count it', async () => {
    for (const [day, window] of [
      [last, 7],
      [last, 30],
      [addDays(last, -6), 7],
      [addDays(last, -20), 1],
      [addDays(last, -3), 31],
    ] as const) {
      const answer = await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${day}&window=${window}`)
      const want = expected(active, day, window)
      expect(answer).toEqual({ day, window_days: window, users: want })
      expect(await h.repo.raw.activeUsers(day, window)).toBe(want)
    }
    // window=1 is the day's DAU; the default window is a week.
    const [dau] = await h.dau(addDays(last, -20), addDays(last, -20))
    expect((await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${addDays(last, -20)}&window=1`)).users).toBe(
      dau?.users,
    )
    expect((await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${last}`)).window_days).toBe(7)
  })

  it('estimates every day of a range from the sketches: exact at these sizes, within the error above them', async () => {
    const from = addDays(last, -9)
    const answer = await h.get<ActiveUserEstimates>(
      `/v1/analytics/active-users/estimates?from=${from}&to=${last}&window=30`,
    )
    expect(answer.window_days).toBe(30)
    expect(answer.standard_error).toBe(0.013)
    // A sketch holds its first values explicitly (hll's explicit and sparse forms): below ~1,000 users, exact.
    expect(answer.days).toEqual(
      Array.from({ length: 10 }, (_, i) => addDays(from, i)).map((day) => ({ day, users: expected(active, day, 30) })),
    )
  })

  it('adds late events to their day, and a rebuild makes the same sketches', async () => {
    const day = addDays(last, -12)
    const before = expected(active, day, 7)
    const late = [event('late-1', at(day)), event('late-2', at(addDays(day, -3)))]
    expect((await h.post(late)).statusCode).toBe(200)
    const url = `/v1/analytics/active-users/estimates?from=${day}&to=${day}&window=7`
    expect((await h.get<ActiveUserEstimates>(url)).days).toEqual([{ day, users: before + 2 }])

    const sketches = async () =>
      h.env.schema.sql<{ day: string; users: string }[]>`
        select day::text, hll_print(users) as users from daily_user_sketches order by day`
    const incremental = await sketches()
    await rebuildRollups(
      h.env.schema.sql,
      { schema: h.env.schema.schema, maxEventAgeDays: 90 },
      addDays(last, -45),
      last,
    )
    expect(await sketches()).toEqual(incremental)
    expect((await h.get<ActiveUserEstimates>(url)).days).toEqual([{ day, users: before + 2 }])
  })

  it('estimates a large window within a few standard errors', async () => {
    const day = addDays(last, -2)
    const many = Array.from({ length: 20_000 }, (_, i) => event(`many-${i}`, at(addDays(day, -(i % 7)))))
    for (let i = 0; i < many.length; i += 10_000) expect((await h.post(many.slice(i, i + 10_000))).statusCode).toBe(200)
    const exact = (await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${day}&window=7`)).users
    const { days, standard_error } = await h.get<ActiveUserEstimates>(
      `/v1/analytics/active-users/estimates?from=${day}&to=${day}&window=7`,
    )
    expect(exact).toBeGreaterThan(20_000)
    expect(Math.abs((days[0]?.users ?? 0) - exact) / exact).toBeLessThan(4 * standard_error)
  })

  it('refuses a window out of 1..31, a bad day, from after to and a range over 92 days', async () => {
    const RANGE = 'https://event-platform.dev/problems/invalid-day-range'
    const PARAMETER = 'https://event-platform.dev/problems/invalid-parameter'
    for (const url of [
      `/v1/analytics/active-users?day=${last}&window=0`,
      `/v1/analytics/active-users?day=${last}&window=32`,
      `/v1/analytics/active-users?day=${last}&window=week`,
      '/v1/analytics/active-users',
      `/v1/analytics/active-users/estimates?from=${last}&to=${last}&window=40`,
    ]) {
      expectProblem(await get(url), 400, { type: PARAMETER })
    }
    expectProblem(await get('/v1/analytics/active-users?day=2026-02-30'), 400, { type: RANGE })
    expectProblem(await get('/v1/analytics/active-users/estimates?from=2026-11-30&to=2026-11-01'), 400, { type: RANGE })
    expectProblem(await get('/v1/analytics/active-users/estimates?from=2026-01-01&to=2026-04-03'), 400, { type: RANGE })
    expect((await get('/v1/analytics/active-users/estimates?from=2026-01-01&to=2026-04-02')).statusCode).toBe(200)
  })
})

describe('a database without the hll extension', () => {
  it('answers the estimates 501, counts exactly, and ingests as before', async () => {
    // A schema whose migration found no extension has no sketches table: the service sees it at start.
    const bare = await startAnalytics({}, { beforeStart: (sql) => sql`drop table daily_user_sketches` })
    try {
      const day = dayFromToday(-1)
      expect((await bare.post([event('no-hll', at(day))])).statusCode).toBe(200)
      expectProblem(
        await bare.app.inject({ method: 'GET', url: `/v1/analytics/active-users/estimates?from=${day}&to=${day}` }),
        501,
        { type: 'https://event-platform.dev/problems/estimates-unavailable' },
      )
      expect((await bare.get<ActiveUsers>(`/v1/analytics/active-users?day=${day}`)).users).toBe(1)
    } finally {
      await bare.close()
    }
  })
})
