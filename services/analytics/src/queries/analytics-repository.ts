import type { Queryable } from '@platform/db'
import { type QueryDef, rawQueries, rollupQueries } from './sql.js'

export interface DayCount {
  day: string
  users: number
}

export interface RetentionCounts {
  active: number
  returning: number
}

/** A day's row of daily_activity for cohorts: users, and back[k-1] = of them, also active k days before. */
export interface CohortRow {
  day: string
  users: number
  back: number[]
}

/** The raw reference's cohort row: users of the day, and after[k-1] = of them, active again k days later. */
export interface RawCohortRow {
  day: string
  users: number
  after: number[]
}

type Row = Record<string, unknown>

/**
 * Reads of the rollups (the API) and the raw reference queries (tests, the benchmark), each one the fixed text of
 * sql.ts. The API's are prepared statements; the raw ones are planned for their values on every run (unnamed
 * statements), as EXPLAIN with those values shows them.
 */
export function createAnalyticsRepository(sql: Queryable) {
  const run = <T extends Row>(query: QueryDef, params: unknown[], prepare = true) =>
    sql.unsafe<T[]>(query.text, params as never[], { prepare })

  const backs = (row: Row) => [1, 2, 3, 4, 5, 6, 7].map((k) => Number(row[`back_${k}`]))

  return {
    async dau(from: string, to: string): Promise<DayCount[]> {
      return run<DayCount & Row>(rollupQueries.dau, [from, to])
    },
    async retention(day: string): Promise<RetentionCounts> {
      const [row] = await run<RetentionCounts & Row>(rollupQueries.retention, [day])
      return row ?? { active: 0, returning: 0 }
    },
    /** Returning users of `day` after the user id `after` ('' for the first page), in byte order. */
    async returningUsers(day: string, after: string, limit: number): Promise<string[]> {
      const rows = await run<{ user_id: string }>(rollupQueries.returningUsers, [day, after, limit])
      return rows.map((r) => r.user_id)
    },
    /** Rows of daily_activity from `from` to `to` + 7 (days without a row are absent). */
    async cohortDays(from: string, to: string): Promise<CohortRow[]> {
      const rows = await run(rollupQueries.cohorts, [from, to])
      return rows.map((r) => ({ day: String(r.day), users: Number(r.users), back: backs(r) }))
    },

    /** Users active on at least one of the `window` days ending on `day`, exactly. */
    async activeUsers(day: string, window: number): Promise<number> {
      const [row] = await run<{ users: number }>(rollupQueries.activeUsers, [day, window])
      return row?.users ?? 0
    },
    /** Per day from `from` to `to`: the HyperLogLog estimate of the users active in the `window` days ending on it. */
    async activeUserEstimates(from: string, to: string, window: number): Promise<DayCount[]> {
      return run<DayCount & Row>(rollupQueries.activeUserEstimates, [from, to, window])
    },

    raw: {
      async dau(from: string, to: string): Promise<DayCount[]> {
        return run<DayCount & Row>(rawQueries.dau, [from, to], false)
      },
      async activeUsers(day: string, window: number): Promise<number> {
        const [row] = await run<{ users: number }>(rawQueries.activeUsers, [day, window], false)
        return row?.users ?? 0
      },
      async retention(day: string): Promise<RetentionCounts> {
        const [row] = await run<RetentionCounts & Row>(rawQueries.retention, [day], false)
        return row ?? { active: 0, returning: 0 }
      },
      async returningUsers(day: string): Promise<string[]> {
        const rows = await run<{ user_id: string }>(rawQueries.returningUsers, [day], false)
        return rows.map((r) => r.user_id)
      },
      /** Cohort days that had users (others are absent). */
      async cohorts(from: string, to: string): Promise<RawCohortRow[]> {
        const rows = await run(rawQueries.cohorts, [from, to], false)
        return rows.map((r) => ({
          day: String(r.day),
          users: Number(r.users),
          after: [1, 2, 3, 4, 5, 6, 7].map((k) => Number(r[`after_${k}`])),
        }))
      },
    },
  }
}

export type AnalyticsRepository = ReturnType<typeof createAnalyticsRepository>
