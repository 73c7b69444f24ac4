/**
 * Post ids are UUIDv7 of the post's creation time (RFC 9562 §5.7: the first 48 bits are the Unix time in
 * milliseconds; commands/create-post.ts, the seed). So "posts since T" is also "ids from this one", which the
 * primary key and posts_author / user_feed's key can range-scan, where a filter on created_at could not stop a scan.
 */

/** The smallest UUIDv7 of `at`'s millisecond: every post created at or after `at` has an id at least this one. */
export function postIdFloor(at: Date): string {
  const hex = Math.max(0, Math.floor(at.getTime())).toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`
}

/**
 * The oldest moment the feeds still show (FEED_RETENTION_DAYS, docs/feed.md#retention): the worker deletes
 * user_feed entries before it, a follow's backfill copies none, and no page shows an older post.
 */
export function retentionStart(retentionDays: number, now: Date = new Date()): Date {
  return new Date(now.getTime() - retentionDays * 86_400_000)
}
