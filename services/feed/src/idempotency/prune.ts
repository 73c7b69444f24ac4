import { repeatWhileFull, type Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import { createPeriodicJob, type PeriodicJob } from '@platform/service'

/**
 * Deletes the expired records of idempotency_keys (docs/feed.md#idempotency). An expired record no longer answers
 * (the next request with its key reclaims the row, idempotency.ts), so this job only keeps the table small: a small
 * batch per statement (no long lock, no long transaction), every FEED_IDEMPOTENCY_PRUNE_INTERVAL_MS, on one instance
 * at a time (a session advisory lock, tried without waiting, as ingest's retention does). The index on expires_at
 * makes each batch a range scan.
 */
export interface IdempotencyPrunerOptions {
  sql: Sql
  schema: string
  logger: Logger
  /** Rows per delete statement. */
  batchSize?: number
}

export interface PruneReport {
  /** False when another instance held the lock. */
  ran: boolean
  deleted: number
}

export function createIdempotencyPruner(options: IdempotencyPrunerOptions) {
  const { sql, logger } = options
  const batchSize = options.batchSize ?? 1000
  const lockName = `${options.schema}:idempotency-prune`

  async function runOnce(): Promise<PruneReport> {
    const conn = await sql.reserve()
    try {
      const [lock] = await conn<{ locked: boolean }[]>`select pg_try_advisory_lock(hashtext(${lockName})) as locked`
      if (!lock?.locked) return { ran: false, deleted: 0 }
      try {
        const deleted = await repeatWhileFull(async () => {
          const result = await conn`
            delete from idempotency_keys where ctid in (
              select ctid from idempotency_keys where expires_at <= now() limit ${batchSize})`
          return result.count
        }, batchSize)
        if (deleted > 0) logger.info({ deleted }, 'expired idempotency keys pruned')
        return { ran: true, deleted }
      } finally {
        // On a broken connection the session, and so the lock, is gone already.
        await conn`select pg_advisory_unlock(hashtext(${lockName}))`.catch(() => {})
      }
    } finally {
      conn.release()
    }
  }

  let job: PeriodicJob | undefined

  return {
    runOnce,
    /** Runs now, then every `intervalMs`; a failed run is logged and tried again at the next tick. */
    start(intervalMs: number) {
      job ??= createPeriodicJob({ name: 'pruning idempotency keys', run: runOnce, intervalMs, logger })
      job.start()
    },
    /** Waits for a run in progress, at most `timeoutMs`: a run stuck on a dead connection must not block shutdown. */
    async stop(timeoutMs = 5000) {
      await job?.stop(timeoutMs)
    },
  }
}

export type IdempotencyPruner = ReturnType<typeof createIdempotencyPruner>
