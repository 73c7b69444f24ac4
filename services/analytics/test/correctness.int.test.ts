import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AnalyticsHarness, addDays, dayFromToday, event, startAnalytics } from './harness.js'
import { modelOf } from './model.js'

/**
 * DAU, retention and cohorts on a data set made here, whose answers are known by construction (the comments) and
 * computed again by the test's own model (model.ts): the API (rollups) and the raw queries (events) must both give
 * them. D is 20 days ago, so every day around it is in the past and inside the accepted window.
 */
const D = dayFromToday(-20)
const at = (day: string, time: string) => `${day}T${time}Z`

// Sent in this order: the batch of D+2 before the late event of D, the duplicates again at the end.
const early = [
  event('heidi', at(addDays(D, 2), '10:00:00.000')), // active on D+2; her event of D arrives later (late)
]
const main = [
  event('alice', at(D, '23:59:59.999')), // the last millisecond of D: D, not D+1
  event('bob', at(addDays(D, 1), '00:00:00.000')), // the first millisecond of D+1: D+1 only
  event('carol', at(D, '08:00:00')), // active only on D ...
  event('carol', at(D, '09:30:00')), // ... twice
  event('dave', at(addDays(D, -8), '12:00:00')), // D-8 is outside D's 7 days: dave is not returning on D
  event('dave', at(D, '12:00:00')),
  event('erin', at(addDays(D, -1), '12:00:00')), // D-1 and D: returning
  event('erin', at(D, '13:00:00')),
  event('frank', at(addDays(D, -7), '00:00:00')), // D-7 and D: returning (the window's first day)
  event('frank', at(D, '14:00:00')),
  event('gina', at(addDays(D, -8), '06:00:00')), // only D-8
  // 01:30 at UTC+02:00 on D+1 is 23:30 UTC on D.
  event('ivan', `${addDays(D, 1)}T01:30:00+02:00`),
  event('judy', at(addDays(D, 4), '12:00:00')), // D+3 stays empty; D+4 has judy
]
const late = [event('heidi', at(D, '18:00:00'))]

describe('answers on a known data set', () => {
  let h: AnalyticsHarness
  const all = [...early, ...main, ...late]
  const model = modelOf(all)

  beforeAll(async () => {
    h = await startAnalytics()
    for (const batch of [early, main, late]) expect((await h.post(batch)).statusCode).toBe(200)
    // Duplicates: a whole batch again, and one event twice within a batch.
    const again = await h.post([...main.slice(0, 3), main[0]!])
    expect(again.json()).toEqual({ received: 4, stored: 0, duplicates: 4 })
  })
  afterAll(async () => {
    await h?.close()
  })

  it('counts DAU per UTC day, every day present, 0 on the empty day', async () => {
    const dau = await h.dau(addDays(D, -8), addDays(D, 4))
    const users = Object.fromEntries(dau.map((d) => [d.day, d.users]))
    // D: alice carol dave erin frank ivan heidi; D+1: bob; D-8: dave gina.
    expect(users[D]).toBe(7)
    expect(users[addDays(D, 1)]).toBe(1)
    expect(users[addDays(D, -8)]).toBe(2)
    expect(users[addDays(D, 3)]).toBe(0)
    expect(users[addDays(D, 4)]).toBe(1)
    expect(dau).toHaveLength(13)
    expect(dau).toEqual(model.dau(addDays(D, -8), addDays(D, 4)))
    expect(await h.repo.raw.dau(addDays(D, -8), addDays(D, 4))).toEqual(dau)
  })

  it('counts the users of D active on one of the 7 days before as returning, and lists them', async () => {
    const answer = await h.retention(D, '&include=users')
    expect(answer).toEqual({ day: D, active: 7, returning: 2, users: ['erin', 'frank'], next_cursor: null })
    expect(answer).toEqual({ ...model.retention(D), users: model.returningUsers(D), next_cursor: null })
    expect(await h.repo.raw.retention(D)).toEqual({ active: 7, returning: 2 })
    expect(await h.repo.raw.returningUsers(D)).toEqual(['erin', 'frank'])
  })

  it('makes a late event count for its own day and for the days after it', async () => {
    // heidi's event of D came after her event of D+2: she is returning on D+2 (active on D, 2 days before).
    const answer = await h.retention(addDays(D, 2), '&include=users')
    expect(answer).toMatchObject({ active: 1, returning: 1, users: ['heidi'] })
    const [cohort] = await h.cohorts(D, D)
    expect(cohort?.users).toBe(7)
    expect(cohort?.retained[1]).toEqual({ after_days: 2, users: 1, share: 0.1429 })
  })

  it('answers cohorts as the raw query and the model do', async () => {
    const from = addDays(D, -8)
    const to = addDays(D, 4)
    const api = await h.cohorts(from, to)
    const expected = model.cohorts(from, to)
    expect(
      api.map((c) => ({
        day: c.day,
        users: c.users,
        after: c.retained.map((r) => r.users),
      })),
    ).toEqual(expected)
    // Raw rows exist for days with users only.
    expect(await h.repo.raw.cohorts(from, to)).toEqual(expected.filter((c) => c.users > 0))
    // dave (D-8) is active again 8 days later: outside the 7 columns.
    expect(api[0]?.retained.map((r) => r.users)).toEqual([0, 0, 0, 0, 0, 0, 0])
  })

  it('pages the returning users with a cursor', async () => {
    const first = await h.retention(D, '&include=users&limit=1')
    expect(first.users).toEqual(['erin'])
    const second = await h.retention(D, `&include=users&limit=1&cursor=${first.next_cursor}`)
    expect(second).toMatchObject({ users: ['frank'], next_cursor: null })
  })
})
