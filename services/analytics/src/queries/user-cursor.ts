import { ActivityRecordedV1 } from '@platform/contracts'
import { ProblemError, problemTypes } from '@platform/http'

/**
 * The opaque cursor of a day's returning users (GET /v1/analytics/retention?include=users): the day and the last user
 * id of the page, in base64url JSON. It comes back from the client, so decoding checks every field as strictly as
 * the encoder writes it (the rules of @platform/http's lib/cursor.ts): a cursor of another day, or one the encoder
 * could not have made, is a 400 invalid-cursor.
 */
const MAX_CURSOR_LENGTH = 1024
/** ActivityRecordedV1's userId rule: no control characters, at most 255 characters. */
const userIdRule = ActivityRecordedV1.properties.userId as unknown as { pattern: string; maxLength: number }
const USER_ID = new RegExp(userIdRule.pattern, 'u')
const USER_ID_MAX = userIdRule.maxLength

const invalidCursor = () =>
  new ProblemError(problemTypes.invalidCursor, {
    code: 'HTTP_INVALID_CURSOR',
    detail: 'The cursor is invalid; use next_cursor from a previous page of the same day.',
  })

export function encodeUserCursor(day: string, userId: string): string {
  return Buffer.from(JSON.stringify([day, userId])).toString('base64url')
}

/** The user id to continue after, for the page of `day`. */
export function decodeUserCursor(cursor: string, day: string): string {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor()
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalidCursor()
  }
  if (!Array.isArray(decoded) || decoded.length !== 2) throw invalidCursor()
  const [cursorDay, userId] = decoded as unknown[]
  if (cursorDay !== day || typeof userId !== 'string' || !USER_ID.test(userId) || userId.length > USER_ID_MAX)
    throw invalidCursor()
  return userId
}
