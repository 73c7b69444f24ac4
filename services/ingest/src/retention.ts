import { repeatWhileFull, type Sql } from '@platform/db'
import { createInbox } from '@platform/inbox'
import type { Logger } from '@platform/logging'
import { createPeriodicJob, type PeriodicJob } from '@platform/service'

/**
 * Retention of webhook events (docs/webhooks.md#retention). Events live in daily partitions (migration
 * 0001_init.sql); the job
 *   1. creates the partitions of the next `lookaheadDays` days, so an insert never finds none;
 *   2. detaches (CONCURRENTLY: no lock that blocks inserts or reads) and drops the partitions that end on or before
 *      the cut-off day, UTC midnight of (now - retentionDays);
 *   3. then deletes the dedupe keys received before that same midnight, a small batch per statement. Keys go after
 *      their events, never before, so a key is remembered at least as long as its event exists.
 * One instance runs it at a time: a session advisory lock, tried without waiting.
 */
export interface RetentionOptions {
  sql: Sql
  schema: string
  logger: Logger
  retentionDays: number
  lookaheadDays?: number
  /** Rows per delete statement when pruning dedupe keys and the inbox. */
  batchSize?: number
  /** The inbox of the status consumer is pruned with the same horizon. */
  inboxConsumer?: string
}

export interface RetentionReport {
  /** False when another instance held the lock. */
  ran: boolean
  created: number
  dropped: string[]
  keysPruned: number
}

const DAY_MS = 86_400_000
const utcDay = (date: Date) => new Date(Math.floor(date.getTime() / DAY_MS) * DAY_MS)
const isoDay = (date: Date) => date.toISOString().slice(0, 10)

export function createRetention(options: RetentionOptions) {
  const { sql, logger } = options
  const lookahead = options.lookaheadDays ?? 7
  const batchSize = options.batchSize ?? 1000

  async function ensurePartitions(from: Date, to: Date): Promise<number> {
    const [row] = await sql<{ made: number }[]>`
      select ensure_event_partitions(${isoDay(from)}::date, ${isoDay(to)}::date) as made`
    return row?.made ?? 0
  }

  /** Partitions of events, with the day each one starts (from its name, events_pYYYYMMDD). */
  async function partitions(): Promise<{ name: string; day: Date; pending: boolean }[]> {
    const rows = await sql<{ name: string; pending: boolean }[]>`
      select c.relname as name, i.inhdetachpending as pending
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
      join pg_namespace n on n.oid = p.relnamespace
      where p.relname = 'events' and n.nspname = ${options.schema}
      order by c.relname`
    return rows
      .map((r) => ({ ...r, m: /^events_p(\d{4})(\d{2})(\d{2})$/.exec(r.name) }))
      .filter((r) => r.m)
      .map(({ name, pending, m }) => ({ name, pending, day: new Date(`${m?.[1]}-${m?.[2]}-${m?.[3]}T00:00:00Z`) }))
  }

  async function dropBefore(cutoff: Date): Promise<string[]> {
    const dropped: string[] = []
    for (const p of await partitions()) {
      if (p.day.getTime() + DAY_MS > cutoff.getTime()) continue
      const name = `"${options.schema}"."${p.name}"`
      // A detach interrupted earlier (crash) left the partition "detach pending": FINALIZE completes it.
      await sql.unsafe(
        `alter table "${options.schema}".events detach partition ${name} ${p.pending ? 'finalize' : 'concurrently'}`,
      )
      await sql.unsafe(`drop table ${name}`)
      dropped.push(p.name)
    }
    return dropped
  }

  function pruneKeys(cutoff: Date): Promise<number> {
    return repeatWhileFull(async () => {
      const result = await sql`
        delete from dedupe_keys where ctid in (
          select ctid from dedupe_keys where received_at < ${cutoff} limit ${batchSize})`
      return result.count
    }, batchSize)
  }

  async function runOnce(now = new Date()): Promise<RetentionReport> {
    const conn = await sql.reserve()
    try {
      const [lock] = await conn<{ locked: boolean }[]>`
        select pg_try_advisory_lock(hashtext(${`${options.schema}:webhook-retention`})) as locked`
      if (!lock?.locked) return { ran: false, created: 0, dropped: [], keysPruned: 0 }
      try {
        const today = utcDay(now)
        const created = await ensurePartitions(
          new Date(today.getTime() - DAY_MS),
          new Date(today.getTime() + lookahead * DAY_MS),
        )
        const cutoff = utcDay(new Date(now.getTime() - options.retentionDays * DAY_MS))
        const dropped = await dropBefore(cutoff)
        const keysPruned = await pruneKeys(cutoff)
        if (options.inboxConsumer) await createInbox(sql, options.inboxConsumer).prune(options.retentionDays)
        const report = { ran: true, created, dropped, keysPruned }
        if (created || dropped.length || keysPruned) logger.info(report, 'webhook retention ran')
        return report
      } finally {
        // On a broken connection the session, and so the lock, is gone already.
        await conn`select pg_advisory_unlock(hashtext(${`${options.schema}:webhook-retention`}))`.catch(() => {})
      }
    } finally {
      conn.release()
    }
  }

  let job: PeriodicJob | undefined

  return {
    runOnce,
    ensurePartitions,
    partitions,
    /** Runs now, then every `intervalMs`; failures are logged and retried at the next tick. */
    start(intervalMs: number) {
      job ??= createPeriodicJob({ name: 'webhook retention', run: runOnce, intervalMs, logger })
      job.start()
    },
    /** Waits for a run in progress, at most `timeoutMs`: a run stuck on a dead connection must not block shutdown. */
    async stop(timeoutMs = 5000) {
      await job?.stop(timeoutMs)
    },
  }
}

export type Retention = ReturnType<typeof createRetention>
