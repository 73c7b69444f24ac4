import type { Queryable, Sql } from '@platform/db'
import { RetryableError } from '@platform/messaging'

/**
 * The hot buckets' locks, PostgreSQL advisory locks (the commit, or the connection's end when a process dies,
 * releases them):
 *
 * - One per (post, liker) pair, taken by the likes handler from its read of `likes` until Redis has answered: the
 *   read and the write of one pair never interleave with another handler's of the same pair.
 * - The buckets' lock (hotBucketsLockKey): handlers hold it shared (side by side), the rebuild from `likes` alone
 *   (queues/hot-likes-rebuild.ts), so no handler's write falls between the rebuild's read of a like and its write
 *   (an unlike reconciled there would be undone by the rebuild's older read). Handlers only TRY it: during a rebuild
 *   they fail at once and go to their retry tier, rather than hold a pool connection each while they wait and
 *   starve the worker's other consumers. PostgreSQL queues a try behind a waiting exclusive request, so a rebuild
 *   gets the lock as soon as the handlers running when it asked have committed.
 * - The rebuild's own (hotRebuildLockKey), a session lock tried by each worker: one rebuild at a time in the
 *   cluster, held until its marker is set, so a second worker does not rebuild again the moment the first commits.
 */
// Advisory locks are the database's, not the schema's: the schema is in the key (current_schema(), the service's
// DB_SCHEMA), so feeds in other schemas of one database (parallel tests, a second deployment) never share them.
export const hotBucketsLockKey = 'feed-hot-buckets'
export const hotRebuildLockKey = 'feed-hot-rebuild'
const likePairKey = (postId: string, likerId: string) => `feed-like:${postId}:${likerId}`

/** The likes handler's locks: the buckets' (shared, tried) and the pair's. Throws RetryableError during a rebuild. */
export async function lockLikePair(tx: Queryable, postId: string, likerId: string): Promise<void> {
  const [row] = await tx<{ free: boolean }[]>`
    select pg_try_advisory_xact_lock_shared(hashtextextended(current_schema() || ${`:${hotBucketsLockKey}`}, 0)) as free,
           pg_advisory_xact_lock(hashtextextended(${likePairKey(postId, likerId)}, 0))`
  if (!row?.free) throw new RetryableError('the hot buckets are being rebuilt from likes; retried after it')
}

/** The rebuild's lock on the buckets: alone, waiting for the handlers in progress (transaction-scoped). */
export async function lockHotBuckets(tx: Queryable): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(current_schema() || ${`:${hotBucketsLockKey}`}, 0))`
}

/**
 * Runs `work` while this worker holds the rebuild's session lock, on a connection of its own; undefined (and no
 * work) when another worker holds it.
 */
export async function tryWithRebuildLock<T>(sql: Sql, work: () => Promise<T>): Promise<T | undefined> {
  const db = await sql.reserve()
  try {
    const [row] = await db<{ got: boolean }[]>`
      select pg_try_advisory_lock(hashtextextended(current_schema() || ${`:${hotRebuildLockKey}`}, 0)) as got`
    if (!row?.got) return undefined
    try {
      return await work()
    } finally {
      // A connection that cannot run this is broken, and its session (and lock) ends with it.
      await db`select pg_advisory_unlock(hashtextextended(current_schema() || ${`:${hotRebuildLockKey}`}, 0))`.catch(
        () => {},
      )
    }
  } finally {
    db.release()
  }
}
