/**
 * The answers computed in the test, from the events alone, without SQL: the reference the API's answers (from the
 * rollups) and the raw queries (from events) are both checked against. UTC days by string slicing of the ISO time.
 */
export interface ModelEvent {
  userId: string
  performedAt: string
}

const DAY_MS = 86_400_000
const dayOf = (iso: string) => new Date(Date.parse(iso)).toISOString().slice(0, 10)
const plus = (day: string, n: number) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10)
/** PostgreSQL's "C" collation: byte order of the UTF-8. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

export function modelOf(events: ModelEvent[]) {
  const usersOn = new Map<string, Set<string>>()
  for (const e of events) {
    const day = dayOf(e.performedAt)
    const users = usersOn.get(day) ?? new Set<string>()
    usersOn.set(day, users.add(e.userId))
  }
  const on = (day: string) => usersOn.get(day) ?? new Set<string>()
  const days = (from: string, to: string) => {
    const out: string[] = []
    for (let d = from; d <= to; d = plus(d, 1)) out.push(d)
    return out
  }
  const returningUsers = (day: string) =>
    [...on(day)].filter((u) => [1, 2, 3, 4, 5, 6, 7].some((k) => on(plus(day, -k)).has(u))).sort(byteOrder)

  return {
    dau: (from: string, to: string) => days(from, to).map((day) => ({ day, users: on(day).size })),
    retention: (day: string) => ({ day, active: on(day).size, returning: returningUsers(day).length }),
    returningUsers,
    /** Users of each cohort day active again k days later (all k, future days included: as the raw query). */
    cohorts: (from: string, to: string) =>
      days(from, to).map((day) => ({
        day,
        users: on(day).size,
        after: [1, 2, 3, 4, 5, 6, 7].map((k) => [...on(day)].filter((u) => on(plus(day, k)).has(u)).length),
      })),
  }
}
