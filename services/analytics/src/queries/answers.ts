import { ProblemError } from '@platform/http'
import { analyticsProblems } from '../problems.js'
import type { AnalyticsRepository } from './analytics-repository.js'
import { addDays, checkDay, dayRange, todayUtc } from './days.js'
import { decodeUserCursor, encodeUserCursor } from './user-cursor.js'

/**
 * The questions the API answers (docs/analytics.md#api), from the rollups. Parameters arrive shaped by the routes'
 * schemas; the range rules are checked here (days.ts): UTC days, `from` <= `to`, at most the limits below.
 */
export const MAX_DAU_DAYS = 366
export const MAX_COHORT_DAYS = 92
export const MAX_ESTIMATE_DAYS = 92
/** The longest window of the active-users questions: a month and a day. */
export const MAX_WINDOW_DAYS = 31

/**
 * The sketches' relative standard error as measured (docs/performance.md#weekly-and-monthly-active-users-2026-12-07): 1.3% at
 * rollup.ts SKETCH_LOG2M = 14, where HyperLogLog's paper gives 1.04 / sqrt(2^14) = 0.81%. the estimates measured
 * here spread about 1.6 times wider (8 sets; log2m 16: 0.68% for 0.41%), so the answer states what was seen.
 */
export const SKETCH_STANDARD_ERROR = 0.013

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

export interface ActiveUsers {
  day: string
  window_days: number
  /** Users active on at least one of the `window_days` days ending on `day`, counted exactly. */
  users: number
}

/** Weekly (window 7), monthly (30) or any window's active users of one day, exactly (from user_day). */
export async function activeUsers(repo: AnalyticsRepository, day: string, window: number): Promise<ActiveUsers> {
  checkDay(day, 'day')
  return { day, window_days: window, users: await repo.activeUsers(day, window) }
}

export interface ActiveUserEstimates {
  window_days: number
  /** Of each estimate: about two thirds are within this share of the exact count, 95% within twice it. */
  standard_error: number
  days: DayUsers[]
}

/**
 * The same count for every day of a range, estimated from the daily HyperLogLog sketches (a line on a chart, where
 * the exact count of each day would read its whole window of user_day). 501 where the database has no hll extension.
 */
export async function activeUserEstimates(
  repo: AnalyticsRepository,
  query: { from: string; to: string; window: number },
  sketches: boolean,
): Promise<ActiveUserEstimates> {
  dayRange(query.from, query.to, MAX_ESTIMATE_DAYS)
  if (!sketches) {
    throw new ProblemError(analyticsProblems.estimatesUnavailable, {
      detail:
        "This database has no hll extension, so no daily sketches are kept. The exact count of one day's window is " +
        'GET /v1/analytics/active-users?day=...&window=...',
    })
  }
  const days = await repo.activeUserEstimates(query.from, query.to, query.window)
  return { window_days: query.window, standard_error: SKETCH_STANDARD_ERROR, days }
}
