import type { Queryable, Sql } from '@platform/db'
import { RetryableError } from '@platform/messaging'

/**
 * The hot buckets' locks, PostgreSQL advisory locks (the commit, or the connection's end when a process dies,
 * releases them; https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS):
 *
 * - One per (post, liker) pair, taken by the likes handler from its read of `likes` until Redis has answered: the
 *   read and the write of one pair never interleave with another handler's of the same pair.
 * - The buckets' lock (HOT_BUCKETS_LOCK_KEY): handlers hold it shared (side by side), the rebuild from `likes` alone
 *   (queues/hot-likes-rebuild.ts), so no handler's write falls between the rebuild's read of a like and its write
 *   (an unlike reconciled there would be undone by the rebuild's older read). Handlers only TRY it, so they never
 *   queue for it: during a rebuild, and while its exclusive request waits for the handlers already in, the try
 *   fails at once and the handler goes to its retry tier, rather than hold a pool connection while it waits and
 *   starve the worker's other consumers. So a rebuild gets the lock as soon as those handlers have committed.
 * - The rebuild's own (HOT_REBUILD_LOCK_KEY), a session lock: one rebuild at a time in the cluster, held until its
 *   marker is set, so a second worker does not rebuild again the moment the first commits.
 */
// Advisory locks are the database's, not the schema's: the schema is in every key (current_schema(), the service's
// DB_SCHEMA), so feeds in other schemas of one database (parallel tests, a second deployment) never share them.
const HOT_BUCKETS_LOCK_KEY = ':feed-hot-buckets'
const HOT_REBUILD_LOCK_KEY = ':feed-hot-rebuild'
const likePairKey = (postId: string, likerId: string) => `:feed-like:${postId}:${likerId}`

/**
 * The likes handler's locks: the buckets' (shared, tried) and then the pair's; the pair's is not taken when the
 * try fails. Throws RetryableError during a rebuild.
 */
export async function lockLikePair(tx: Queryable, postId: string, likerId: string): Promise<void> {
  // An uncorrelated sub-select is an init plan, run only when its CASE branch is reached.
  const [row] = await tx<{ free: boolean }[]>`
    select case
      when pg_try_advisory_xact_lock_shared(hashtextextended(current_schema() || ${HOT_BUCKETS_LOCK_KEY}, 0))
      then (select true from pg_advisory_xact_lock(hashtextextended(current_schema() || ${likePairKey(postId, likerId)}, 0)))
      else false
    end as free`
  if (!row?.free) throw new RetryableError('the hot buckets are being rebuilt from likes; retried after it')
}

/** The rebuild's lock on the buckets: alone, waiting for the handlers in progress (transaction-scoped). */
export async function lockHotBuckets(tx: Queryable): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(current_schema() || ${HOT_BUCKETS_LOCK_KEY}, 0))`
}

/**
 * Runs `work` while this process holds the rebuild's session lock, on a connection of its own: so `sql` needs a
 * pool of at least two (`work` opens its transaction on another). Without `wait`, undefined (and no work) when
 * another worker holds it; with `wait`, after that worker's rebuild (the seed, which must rebuild after its writes),
 * as long as `sql`'s statement_timeout allows (the seed's client has none; a service pool's would end the wait).
 */
export async function withRebuildLock<T>(
  sql: Sql,
  options: { wait: boolean },
  work: () => Promise<T>,
): Promise<T | undefined> {
  const db = await sql.reserve()
  try {
    const [row] = options.wait
      ? await db<{ got: boolean; pid: number }[]>`
          select true as got, pg_backend_pid() as pid
          from pg_advisory_lock(hashtextextended(current_schema() || ${HOT_REBUILD_LOCK_KEY}, 0))`
      : await db<{ got: boolean; pid: number }[]>`
          select pg_try_advisory_lock(hashtextextended(current_schema() || ${HOT_REBUILD_LOCK_KEY}, 0)) as got,
                 pg_backend_pid() as pid`
    if (!row?.got) return undefined
    try {
      return await work()
    } finally {
      try {
        await db`select pg_advisory_unlock(hashtextextended(current_schema() || ${HOT_REBUILD_LOCK_KEY}, 0))`
      } catch {
        // A session that could not unlock must not go back to the pool still holding the lock (no worker could
        // rebuild until it ends): end it from another connection. If that fails too, the database is gone, and
        // the session with it.
        await sql`select pg_terminate_backend(${row.pid})`.catch(() => {})
      }
    }
  } finally {
    // A terminated session is a closed connection, which postgres.js replaces in its pool.
    db.release()
  }
}
