import { randomUUID } from 'node:crypto'
import type { ActivityRecordedV1 } from '@platform/contracts'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ActiveUserEstimates, ActiveUsers } from '../src/queries/answers.js'
import { rebuildRollups } from '../src/rollup/rebuild.js'
import { type AnalyticsHarness, addDays, DAY_MS, dayFromToday, startAnalytics } from './harness.js'
import { modelOf } from './model.js'

/**
 * rollup == raw, on random data sets (fast-check, https://fast-check.dev): a few users (so they return often), events
 * on 17 days including both ends of a UTC day, repeated events, arriving in a random order (late events for days
 * already counted) in random batches sent one after the other or all at once. After each data set, every answer of
 * the API (from user_day and daily_activity) equals the raw query's (from events) and the test's model; and after
 * the rollups of some days are wiped, a rebuild of those days from events (rebuild.ts) gives them all back. Active
 * users of windows too: exact, and as estimated from the daily sketches (exact at these sizes).
 */
/** Whether an event's UTC day is one of the `window` days ending on `day`. */
const inWindow = (performedAt: string, day: string, window: number) => {
  const at = performedAt.slice(0, 10)
  return at <= day && at > addDays(day, -window)
}

const BASE = dayFromToday(-30)
const SPAN = 17
const LAST = addDays(BASE, SPAN - 1)

const anEvent = fc.record({
  user: fc.constantFrom('u1', 'u2', 'u3', 'u4', 'u5', 'ü6'),
  day: fc.integer({ min: 0, max: SPAN - 1 }),
  ms: fc.oneof(fc.constant(0), fc.constant(DAY_MS - 1), fc.integer({ min: 0, max: DAY_MS - 1 })),
})

const aDataSet = fc.record({
  events: fc.array(anEvent, { minLength: 1, maxLength: 60 }),
  /** Indices of events sent a second time (the same event: id and time). */
  repeats: fc.array(fc.nat(), { maxLength: 10 }),
  /** A sort key per event: the arrival order. */
  order: fc.array(fc.integer({ min: 0, max: 999 }), { minLength: 70, maxLength: 70 }),
  batchSize: fc.integer({ min: 1, max: 25 }),
  concurrent: fc.boolean(),
  /** Days (offsets) of a rebuild of the rollups from events, which must change nothing. */
  rebuild: fc.tuple(fc.integer({ min: 0, max: SPAN - 1 }), fc.integer({ min: 0, max: SPAN - 1 })),
})

const snapshot = (h: AnalyticsHarness) =>
  Promise.all([
    h.env.schema.sql`select day::text, user_id, prior_days from user_day order by day, user_id`,
    h.env.schema.sql`select day::text, active_users, returning_users, back_1, back_2, back_3, back_4, back_5,
      back_6, back_7 from daily_activity where active_users > 0 order by day`,
    h.env.schema.sql`select user_id, days::text from user_activity order by user_id`,
    h.env.schema.sql`select day::text, hll_print(users) as users from daily_user_sketches order by day`,
  ]).then(([userDays, days, users, sketches]) => ({
    userDays: [...userDays],
    days: [...days],
    users: [...users],
    sketches: [...sketches],
  }))

describe('rollups against the raw queries, on random data', () => {
  let h: AnalyticsHarness
  beforeAll(async () => {
    h = await startAnalytics()
  })
  afterAll(async () => {
    await h?.close()
  })

  it('give the same DAU, retention, returning users and cohorts', async () => {
    await fc.assert(
      fc.asyncProperty(aDataSet, async (data) => {
        await h.truncate()
        const events: ActivityRecordedV1[] = data.events.map((e) => ({
          eventId: randomUUID(),
          userId: e.user,
          kind: 'login',
          performedAt: new Date(Date.parse(`${addDays(BASE, e.day)}T00:00:00Z`) + e.ms).toISOString(),
        }))
        const sent = [...events, ...data.repeats.map((i) => events[i % events.length] as ActivityRecordedV1)]
          .map((event, i) => ({ event, key: data.order[i % data.order.length] ?? 0 }))
          .sort((a, b) => a.key - b.key)
          .map((s) => s.event)
        const batches: ActivityRecordedV1[][] = []
        for (let i = 0; i < sent.length; i += data.batchSize) batches.push(sent.slice(i, i + data.batchSize))
        if (data.concurrent) {
          const answers = await Promise.all(batches.map((b) => h.post(b)))
          expect(answers.map((a) => a.statusCode)).toEqual(batches.map(() => 200))
        } else {
          for (const batch of batches) expect((await h.post(batch)).statusCode).toBe(200)
        }

        const model = modelOf(events)
        const dau = await h.dau(BASE, LAST)
        expect(dau).toEqual(model.dau(BASE, LAST))
        expect(await h.repo.raw.dau(BASE, LAST)).toEqual(dau)
        for (let i = 0; i < SPAN; i++) {
          const day = addDays(BASE, i)
          const api = await h.retention(day, '&include=users&limit=10000')
          expect(api).toEqual({ ...model.retention(day), users: model.returningUsers(day), next_cursor: null })
          expect(await h.repo.raw.retention(day)).toEqual({ active: api.active, returning: api.returning })
          expect(await h.repo.raw.returningUsers(day)).toEqual(api.users)
        }
        const cohorts = (await h.cohorts(BASE, LAST)).map((c) => ({
          day: c.day,
          users: c.users,
          after: c.retained.map((r) => r.users),
        }))
        expect(cohorts).toEqual(model.cohorts(BASE, LAST))
        expect(await h.repo.raw.cohorts(BASE, LAST)).toEqual(cohorts.filter((c) => c.users > 0))

        // Active users of windows: exact from user_day, as the raw query and the data say; the sketches' estimates
        // of sets this small are exact too (hll keeps them explicitly).
        for (const window of [1, 7]) {
          const estimates = await h.get<ActiveUserEstimates>(
            `/v1/analytics/active-users/estimates?from=${BASE}&to=${LAST}&window=${window}`,
          )
          for (let i = 0; i < SPAN; i++) {
            const day = addDays(BASE, i)
            const users = new Set(events.filter((e) => inWindow(e.performedAt, day, window)).map((e) => e.userId)).size
            const exact = await h.get<ActiveUsers>(`/v1/analytics/active-users?day=${day}&window=${window}`)
            expect(exact.users).toBe(users)
            expect(await h.repo.raw.activeUsers(day, window)).toBe(users)
            expect(estimates.days[i]).toEqual({ day, users })
          }
        }

        const kept = await snapshot(h)
        const [a, b] = data.rebuild[0] <= data.rebuild[1] ? data.rebuild : [data.rebuild[1], data.rebuild[0]]
        const [from, to] = [addDays(BASE, a), addDays(BASE, b)]
        // What a rebuild is for: rollups that lost the range's days (and the bits they gave the 7 days after it).
        await h.env.schema.sql`delete from user_day where day between ${from}::date and ${to}::date`
        await h.env.schema.sql`update user_day set prior_days = 0 where day > ${to}::date and day <= ${to}::date + 7`
        await h.env.schema.sql`delete from daily_activity where day between ${from}::date and ${to}::date + 7`
        await rebuildRollups(h.env.schema.sql, { schema: h.env.schema.schema, maxEventAgeDays: 90 }, from, to)
        expect(await snapshot(h)).toEqual(kept)
      }),
      // Shrinking a failure (hundreds of data sets) is bounded, so the report comes within the test timeout.
      { numRuns: 40, interruptAfterTimeLimit: 90_000, markInterruptAsFailure: true },
    )
  }, 180_000)
})
