import type { Queryable } from '@platform/db'

/**
 * The hot buckets' locks: PostgreSQL advisory locks of the transaction (the commit, or the connection's end when a
 * process dies, releases them), held from the read of `likes` until Redis has answered.
 *
 * - One per (post, liker) pair, taken by the likes handler: the read and the write of one pair never interleave with
 *   another handler's of the same pair.
 * - One over all the buckets: handlers hold it shared (side by side), the rebuild from `likes` alone
 *   (queues/hot-likes-rebuild.ts). So no handler's write falls between the rebuild's read of a like and its write:
 *   an unlike reconciled there would be undone by the rebuild's older read. Waiting for it counts against the
 *   statement deadline (DB_STATEMENT_TIMEOUT_MS): a handler held up by a long rebuild fails and is retried.
 */
const BUCKETS_LOCK = 'feed-hot-buckets'

/** The likes handler's locks: the buckets' shared, then the pair's. */
export async function lockLikePair(tx: Queryable, postId: string, likerId: string): Promise<void> {
  await tx`
    select pg_advisory_xact_lock_shared(hashtextextended(${BUCKETS_LOCK}, 0)),
           pg_advisory_xact_lock(hashtextextended(${`feed-like:${postId}:${likerId}`}, 0))`
}

/** The rebuild's lock: all the buckets, alone. */
export async function lockAllLikes(tx: Queryable): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtextextended(${BUCKETS_LOCK}, 0))`
}
