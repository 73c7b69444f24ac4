import type { Sql } from '@platform/db'

/**
 * The author lock: one PostgreSQL advisory lock per author (followee), held for a session across a write to
 * PostgreSQL, its commit and the Redis write after it. Writers that ADD an author's entries to feeds (fan-out
 * batches, promotion pages) hold it shared and run side by side; follow and unfollow handlers of that author hold
 * it alone. So an unfollow's removal never runs between a batch's check of the follow and its Redis write (which
 * would leave the post in the feed of someone who no longer follows), and a follow's backfill never runs between an
 * unfollow's delete and its Redis removal. The lock is the session's: it ends with the connection if the process
 * dies. Waiting for it counts against the statement deadline (DB_STATEMENT_TIMEOUT_MS): a handler that cannot get
 * it fails and is retried.
 */
export type LockMode = 'shared' | 'exclusive'

export const authorLockKey = (authorId: string) => `feed-author:${authorId}`

/** Runs `work` on a connection of its own that holds the author's lock in `mode`; releases both after. */
export async function withAuthorLock<T>(
  sql: Sql,
  authorId: string,
  mode: LockMode,
  work: (db: Sql) => Promise<T>,
): Promise<T> {
  const db = await sql.reserve()
  const key = authorLockKey(authorId)
  try {
    if (mode === 'shared') await db`select pg_advisory_lock_shared(hashtextextended(${key}, 0))`
    else await db`select pg_advisory_lock(hashtextextended(${key}, 0))`
    try {
      return await work(db)
    } finally {
      // A connection that cannot run this is broken, and its session (and lock) ends with it.
      if (mode === 'shared') await db`select pg_advisory_unlock_shared(hashtextextended(${key}, 0))`.catch(() => {})
      else await db`select pg_advisory_unlock(hashtextextended(${key}, 0))`.catch(() => {})
    }
  } finally {
    db.release()
  }
}
