import type { AnalyticsRepository } from './analytics-repository.js'
import { addDays, checkDay, dayRange, todayUtc } from './days.js'
import { decodeUserCursor, encodeUserCursor } from './user-cursor.js'

/**
 * The questions the API answers (docs/analytics.md#api), from the rollups. Parameters arrive shaped by the routes'
 * schemas; the range rules are checked here (days.ts): UTC days, `from` <= `to`, at most the limits below.
 */
export const MAX_DAU_DAYS = 366
export const MAX_COHORT_DAYS = 92

export interface DayUsers {
  day: string
  users: number
}

/** Every day of the range, 0 where nobody was active. */
export async function dailyActiveUsers(repo: AnalyticsRepository, from: string, to: string): Promise<DayUsers[]> {
  const days = dayRange(from, to, MAX_DAU_DAYS)
  const counts = new Map((await repo.dau(from, to)).map((r) => [r.day, r.users]))
  return days.map((day) => ({ day, users: counts.get(day) ?? 0 }))
}

export interface Retention {
  day: string
  active: number
  returning: number
  /** With include=users: the returning users of this page, in byte order of their ids. */
  users?: string[]
  next_cursor?: string | null
}

/** Users active on `day` who were also active on at least one of the 7 days before. */
export async function retention(
  repo: AnalyticsRepository,
  query: { day: string; include?: 'users'; cursor?: string; limit: number },
): Promise<Retention> {
  const day = checkDay(query.day, 'day')
  const counts = await repo.retention(day)
  if (query.include !== 'users') return { day, ...counts }
  const after = query.cursor === undefined ? '' : decodeUserCursor(query.cursor, day)
  // One more than the page: whether there is a next page, without a count.
  const users = await repo.returningUsers(day, after, query.limit + 1)
  const page = users.slice(0, query.limit)
  const last = page.at(-1)
  return {
    day,
    ...counts,
    users: page,
    next_cursor: users.length > query.limit && last !== undefined ? encodeUserCursor(day, last) : null,
  }
}

export interface Cohort {
  day: string
  /** Users active on the cohort's day. */
  users: number
  /** k = 1..7: of them, how many were active again on day + k, and their share; null while day + k is to come. */
  retained: { after_days: number; users: number | null; share: number | null }[]
}

/** For each day's active users, the share active again 1..7 days later. */
export async function cohorts(
  repo: AnalyticsRepository,
  from: string,
  to: string,
  now = Date.now(),
): Promise<Cohort[]> {
  const days = dayRange(from, to, MAX_COHORT_DAYS)
  const today = todayUtc(now)
  const rows = new Map((await repo.cohortDays(from, to)).map((r) => [r.day, r]))
  return days.map((day) => {
    const users = rows.get(day)?.users ?? 0
    return {
      day,
      users,
      retained: [1, 2, 3, 4, 5, 6, 7].map((k) => {
        const later = addDays(day, k)
        if (later > today) return { after_days: k, users: null, share: null }
        const again = rows.get(later)?.back[k - 1] ?? 0
        return { after_days: k, users: again, share: users === 0 ? null : Math.round((again / users) * 1e4) / 1e4 }
      }),
    }
  })
}
