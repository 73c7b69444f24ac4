import { ProblemError } from './errors.js'
import { problemTypes } from './problem-types.js'

/**
 * Opaque keyset cursors (the sort key of the last row of a page) for list endpoints. A cursor comes back from the
 * client, so every decoded field is checked as strictly as the encoder writes it: a cursor the encoder could not
 * have made is a 400 invalid-cursor, never a query PostgreSQL refuses (a year 0 or 275760 date, `8.64e15`, an id
 * that is not a UUID all used to end as a 500).
 */
export interface TimeIdKey {
  /** A timestamp within PostgreSQL's and ISO 8601's common range (years 1 to 9999). */
  at: Date
  /** A UUID. */
  id: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
/** What Date#toISOString writes for years 0 to 9999; year 0 is refused below (PostgreSQL has no year 0). */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
/** Longer than any cursor the encoder makes (~80 characters); refused before decoding. */
const MAX_CURSOR_LENGTH = 256

const invalidCursor = () =>
  new ProblemError(problemTypes.invalidCursor, {
    code: 'HTTP_INVALID_CURSOR',
    detail: 'The cursor is invalid; use next_cursor from a previous page.',
  })

/**
 * The general form: a cursor is a JSON array of strings and numbers, base64url. For keys that are not (time, id): a
 * post id alone, a ranking snapshot and an offset. `parse` gets the decoded array and returns the key, or undefined
 * for anything its encoder could not have written (each field checked, the length too): that is a 400 invalid-cursor.
 */
export type CursorField = string | number

export function encodeCursor(fields: readonly CursorField[]): string {
  return Buffer.from(JSON.stringify(fields)).toString('base64url')
}

export function decodeCursor<T>(cursor: string, parse: (fields: readonly unknown[]) => T | undefined): T {
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor()
  let decoded: unknown
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw invalidCursor()
  }
  if (!Array.isArray(decoded)) throw invalidCursor()
  const key = parse(decoded)
  if (key === undefined) throw invalidCursor()
  return key
}

export function encodeTimeIdCursor(key: TimeIdKey): string {
  return encodeCursor([key.at.toISOString(), key.id])
}

/** Throws a 400 ProblemError (invalid-cursor) for anything `encodeTimeIdCursor` could not have written. */
export function decodeTimeIdCursor(cursor: string): TimeIdKey {
  return decodeCursor(cursor, (fields) => {
    if (fields.length !== 2) return undefined
    const [at, id] = fields
    if (typeof at !== 'string' || typeof id !== 'string' || !ISO_INSTANT.test(at) || !UUID.test(id)) return undefined
    const date = new Date(at)
    // The round trip refuses dates that do not exist (2025-02-30) and year 0.
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at || date.getUTCFullYear() < 1) return undefined
    return { at: date, id: id.toLowerCase() }
  })
}
