import type { Sql } from '@platform/db'
import type { Inbox } from '@platform/inbox'
import type { ServiceRuntime } from '@platform/service'

/**
 * The monthly partitions of `events` (migrations/0002_events_and_rollups.sql, docs/analytics.md#partitions). The job
 *   1. creates the partitions of every month an event may still arrive for (ANALYTICS_MAX_EVENT_AGE_DAYS back) and
 *      of `lookaheadMonths` months ahead, so an accepted event always finds its partition;
 *   2. detaches (CONCURRENTLY: no lock that blocks inserts or reads) the partitions of months older than
 *      `retentionMonths` and renames them `detached_events_pYYYYMM`: the operator archives and drops them. The
 *      rollups keep those days; only the raw reference queries lose them;
 *   3. prunes the consumer's inbox (the events' primary key still drops a redelivery older than that).
 * One instance runs it at a time: a session advisory lock, tried without waiting. `ensureMonths` is what an
 * ingestion calls for a month it has not seen a partition of (an event of a month created since the last run).
 */
export interface PartitionOptions {
  sql: Sql
  schema: string
  logger: ServiceRuntime['logger']
  maxEventAgeDays: number
  lookaheadMonths: number
  /** 0: keep every month. */
  retentionMonths: number
  inbox?: Inbox
  inboxRetentionDays?: number
}

export interface MaintenanceReport {
  ran: boolean
  created: number
  detached: string[]
}

const DAY_MS = 86_400_000
/** "2026-11" of a date, UTC. */
export const monthOf = (date: Date) => date.toISOString().slice(0, 7)
const firstOfMonth = (month: string) => `${month}-01`
const addMonths = (date: Date, months: number) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1))

export function createPartitions(options: PartitionOptions) {
  const { sql, logger } = options
  const lockKey = `${options.schema}:analytics-partitions`
  /** Months known to have a partition: ingestion asks the database only about a month not in here. */
  const known = new Set<string>()

  async function ensureRange(first: Date, last: Date): Promise<number> {
    const [row] = await sql<{ made: number }[]>`
      select ensure_event_partitions(${firstOfMonth(monthOf(first))}::date, ${firstOfMonth(monthOf(last))}::date) as made`
    return row?.made ?? 0
  }

  /** Attached partitions, with their month (from the name, events_pYYYYMM). */
  async function partitions(): Promise<{ name: string; month: string; pending: boolean }[]> {
    const rows = await sql<{ name: string; pending: boolean }[]>`
      select c.relname as name, i.inhdetachpending as pending
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
      join pg_namespace n on n.oid = p.relnamespace
      where p.relname = 'events' and n.nspname = ${options.schema}
      order by c.relname`
    return rows.flatMap((r) => {
      const m = /^events_p(\d{4})(\d{2})$/.exec(r.name)
      return m ? [{ ...r, month: `${m[1]}-${m[2]}` }] : []
    })
  }

  async function refreshKnown() {
    known.clear()
    for (const p of await partitions()) if (!p.pending) known.add(p.month)
  }

  async function detachBefore(cutoffMonth: string): Promise<string[]> {
    const detached: string[] = []
    for (const p of await partitions()) {
      if (p.month >= cutoffMonth) continue
      const name = `"${options.schema}"."${p.name}"`
      // A detach interrupted earlier (crash) left the partition "detach pending": FINALIZE completes it.
      await sql.unsafe(
        `alter table "${options.schema}".events detach partition ${name} ${p.pending ? 'finalize' : 'concurrently'}`,
      )
      await sql.unsafe(`alter table ${name} rename to "detached_${p.name}"`)
      detached.push(p.name)
    }
    return detached
  }

  async function runOnce(now = new Date()): Promise<MaintenanceReport> {
    const conn = await sql.reserve()
    try {
      const [lock] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(hashtext(${lockKey})) as locked`
      if (!lock?.locked) return { ran: false, created: 0, detached: [] }
      try {
        const created = await ensureRange(
          new Date(now.getTime() - (options.maxEventAgeDays + 1) * DAY_MS),
          addMonths(now, options.lookaheadMonths),
        )
        const detached =
          options.retentionMonths > 0 ? await detachBefore(monthOf(addMonths(now, -options.retentionMonths))) : []
        if (options.inbox) await options.inbox.prune(options.inboxRetentionDays ?? 30)
        await refreshKnown()
        const report = { ran: true, created, detached }
        if (created || detached.length) logger.info(report, 'event partitions maintained')
        return report
      } finally {
        // On a broken connection the session, and so the lock, is gone already.
        await conn`select pg_advisory_unlock(hashtext(${lockKey}))`.catch(() => {})
      }
    } finally {
      conn.release()
    }
  }

  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined

  return {
    runOnce,
    partitions,
    /**
     * Makes sure every month of `dates` has a partition. Months already known cost nothing; an unknown one is
     * created (CREATE TABLE ... PARTITION OF takes a short exclusive lock on events, once per month).
     */
    async ensureMonths(dates: Iterable<Date>): Promise<void> {
      const missing = new Set<string>()
      for (const date of dates) {
        const month = monthOf(date)
        if (!known.has(month)) missing.add(month)
      }
      for (const month of missing) {
        const first = new Date(`${firstOfMonth(month)}T00:00:00Z`)
        await ensureRange(first, first)
        known.add(month)
      }
    },
    /** Runs now, then every `intervalMs`; failures are logged and retried at the next tick. */
    start(intervalMs: number) {
      const tick = () => {
        running = runOnce()
          .catch((err) => logger.error({ err }, 'event partition maintenance failed'))
          .finally(() => {
            running = undefined
          })
      }
      timer = setInterval(tick, intervalMs)
      timer.unref()
    },
    /** Waits for a run in progress, at most `timeoutMs`: a run stuck on a dead connection must not block shutdown. */
    async stop(timeoutMs = 5000) {
      clearInterval(timer)
      let deadline: NodeJS.Timeout | undefined
      await Promise.race([running, new Promise((resolve) => (deadline = setTimeout(resolve, timeoutMs)))])
      clearTimeout(deadline)
    },
  }
}

export type Partitions = ReturnType<typeof createPartitions>
