import { ProblemError } from '@platform/http'
import { analyticsProblems } from '../problems.js'

/**
 * UTC days as the API speaks them: "YYYY-MM-DD", a day from 00:00:00.000 to 23:59:59.999 UTC (docs/analytics.md#days).
 * Query strings arrive matching DAY_PATTERN (the routes' schemas); these check what a pattern cannot (a day that does
 * not exist, `from` after `to`, a range too long) and do the day arithmetic, in UTC milliseconds only.
 */
export const DAY_PATTERN = '^[12][0-9]{3}-[0-9]{2}-[0-9]{2}$'

const DAY_MS = 86_400_000

/** The day's UTC midnight in ms, or undefined for "2026-02-30". */
export function dayStart(day: string): number | undefined {
  const ms = Date.parse(`${day}T00:00:00Z`)
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day) return undefined
  return ms
}

export const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10)
export const addDays = (day: string, n: number) => dayOf((dayStart(day) as number) + n * DAY_MS)
export const todayUtc = (now = Date.now()) => dayOf(now)

const invalidRange = (detail: string, pointer: string) =>
  new ProblemError(analyticsProblems.invalidDayRange, {
    detail,
    extensions: { errors: [{ in: 'querystring', pointer, message: detail }] },
  })

/** Checks one day parameter. */
export function checkDay(day: string, name: string): string {
  if (dayStart(day) === undefined) throw invalidRange(`${name} ${day} is not a date.`, `/${name}`)
  return day
}

/** Every day from `from` to `to`, both included; refuses `from` after `to` and more than `maxDays` days. */
export function dayRange(from: string, to: string, maxDays: number): string[] {
  const start = dayStart(checkDay(from, 'from')) as number
  const end = dayStart(checkDay(to, 'to')) as number
  if (start > end) throw invalidRange(`from (${from}) is after to (${to}).`, '/from')
  const count = (end - start) / DAY_MS + 1
  if (count > maxDays) throw invalidRange(`The range is ${count} days; at most ${maxDays} are allowed.`, '/to')
  return Array.from({ length: count }, (_, i) => dayOf(start + i * DAY_MS))
}
