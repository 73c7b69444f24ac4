import { repeatWhileFull, type Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import { createPeriodicJob } from '@platform/service'

/**
 * Keeps the sessions and refresh_tokens tables from growing forever (every refresh adds a row). Every
 * FEED_SESSION_CLEANUP_INTERVAL_MS it deletes, a batch per statement:
 *   1. sessions past their absolute end, revoked or not, with all their tokens (on delete cascade): nothing of
 *      them can work any more;
 *   2. rotated tokens past their own idle expiry. Such a token could not be exchanged even if it had never been
 *      rotated, so the only thing lost is the reuse signal of a replay older than FEED_REFRESH_IDLE_TTL_S: it is
 *      then refused as unknown instead of revoking its family (docs/feed.md#reuse-detection-and-the-grace-rule).
 * The live token of a family is never deleted before its session. Several instances may run it at once: the
 * deletes are idempotent, and each batch is its own short statement.
 */
export interface SessionCleanupOptions {
  sql: Sql
  logger: Logger
  intervalMs: number
  now?: () => Date
  batchSize?: number
}

export interface CleanupReport {
  sessions: number
  tokens: number
}

export function createSessionCleanup(options: SessionCleanupOptions) {
  const { sql, logger } = options
  const now = options.now ?? (() => new Date())
  const batch = options.batchSize ?? 1000
  const drain = (statement: () => Promise<{ count: number }>) =>
    repeatWhileFull(async () => (await statement()).count, batch)

  async function runOnce(): Promise<CleanupReport> {
    const at = now()
    const sessions = await drain(
      () => sql`delete from sessions where id in (select id from sessions where expires_at <= ${at} limit ${batch})`,
    )
    const tokens = await drain(
      () => sql`
        delete from refresh_tokens where token_hash in (
          select token_hash from refresh_tokens where rotated_at is not null and expires_at <= ${at} limit ${batch})`,
    )
    if (sessions + tokens > 0) logger.info({ sessions, tokens }, 'ended sessions and expired refresh tokens deleted')
    return { sessions, tokens }
  }

  // No run at start: the first pass waits an interval. stop() waits for a pass in progress at most 5 s.
  const job = createPeriodicJob({
    name: 'session cleanup',
    run: runOnce,
    intervalMs: options.intervalMs,
    logger,
    runAtStart: false,
  })
  return { runOnce, start: () => job.start(), stop: () => job.stop() }
}
