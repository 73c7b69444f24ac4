import { decodeCursor, encodeCursor } from '@platform/http'

/**
 * The cursors of the feeds (docs/feed.md#personal-feed, #hot-feed), opaque to clients: base64url JSON arrays
 * (@platform/http cursor.ts), every decoded field checked as strictly as it is written, so a cursor no page handed
 * out is a 400 invalid-cursor and never reaches Redis or PostgreSQL.
 *
 *   - Personal feed: `["p", <post id>]`, the id of the last post of the page. Post ids are UUIDv7 (their first 48
 *     bits are the creation time, RFC 9562 §5.7), so "older than the cursor" is `post_id < cursor` in both stores,
 *     and new posts, which sort above every cursor handed out, never shift a page below it.
 *   - Hot feed: `["h", <snapshot id>, <offset>]`: the ranking snapshot and the position in it, so page 2 comes from
 *     the ranking of page 1 however scores changed since.
 *
 * The leading tag keeps one feed's cursor from passing for the other's.
 */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const SNAPSHOT_ID = /^[0-9a-z]{8,11}-[0-9a-f]{8}$/

export interface HotCursor {
  snapshotId: string
  offset: number
}

export const encodePersonalCursor = (postId: string) => encodeCursor(['p', postId])

export function decodePersonalCursor(cursor: string): string {
  return decodeCursor(cursor, (fields) => {
    const [tag, id] = fields
    return fields.length === 2 && tag === 'p' && typeof id === 'string' && UUID_V7.test(id) ? id : undefined
  })
}

export const encodeHotCursor = (key: HotCursor) => encodeCursor(['h', key.snapshotId, key.offset])

/** `maxOffset`: the most items a snapshot holds; an offset past it is not one a page handed out. */
export function decodeHotCursor(cursor: string, maxOffset: number): HotCursor {
  return decodeCursor(cursor, (fields) => {
    const [tag, snapshotId, offset] = fields
    if (fields.length !== 3 || tag !== 'h' || typeof snapshotId !== 'string' || !SNAPSHOT_ID.test(snapshotId)) {
      return undefined
    }
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 1 || offset > maxOffset)
      return undefined
    return { snapshotId, offset }
  })
}

/** A snapshot id as the hot cache makes them (hot-cache.ts): base-36 milliseconds, a dash, 8 random hex digits. */
export const isSnapshotId = (id: string) => SNAPSHOT_ID.test(id)
