import { problemTypes } from '@platform/http'
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid'
import { describe, expect, it } from 'vitest'
import {
  decodeHotCursor,
  decodePersonalCursor,
  encodeHotCursor,
  encodePersonalCursor,
} from '../src/queries/feed-cursors.js'

/** The feeds' cursors: what a page hands out decodes to what it was made from; anything else is 400. */
const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const invalid = expect.objectContaining({ status: 400, type: problemTypes.invalidCursor.type })

describe('personal feed cursor', () => {
  it('decodes what it encodes: a UUIDv7 post id', () => {
    const id = uuidv7()
    expect(decodePersonalCursor(encodePersonalCursor(id))).toBe(id)
  })

  it('refuses anything else', () => {
    const id = uuidv7()
    for (const cursor of [
      raw(['p', uuidv4()]),
      raw(['p', id.toUpperCase()]),
      raw(['p', id, 'extra']),
      raw(['p']),
      raw([id]),
      raw(['h', id]),
      raw(['p', null]),
      raw('p'),
      '',
      '=',
      'a'.repeat(257),
    ]) {
      expect(() => decodePersonalCursor(cursor), cursor).toThrow(invalid)
    }
  })
})

describe('hot feed cursor', () => {
  const snapshotId = `${Date.now().toString(36)}-0a1b2c3d`

  it('decodes what it encodes: the snapshot and the offset', () => {
    const key = { snapshotId, offset: 50 }
    expect(decodeHotCursor(encodeHotCursor(key), 500)).toEqual(key)
    expect(decodeHotCursor(encodeHotCursor({ snapshotId, offset: 500 }), 500).offset).toBe(500)
  })

  it('refuses anything else, and offsets past the ranking’s size', () => {
    for (const cursor of [
      raw(['h', snapshotId, 501]),
      raw(['h', snapshotId, 0]),
      raw(['h', snapshotId, -3]),
      raw(['h', snapshotId, 2.5]),
      raw(['h', snapshotId, 1e300]),
      raw(['h', snapshotId, '5']),
      raw(['h', 'x-0a1b2c3d', 5]),
      raw(['h', `${snapshotId}0`, 5]),
      raw(['h', snapshotId.toUpperCase(), 5]),
      raw(['h', snapshotId, 5, 5]),
      raw(['p', snapshotId, 5]),
    ]) {
      expect(() => decodeHotCursor(cursor, 500), cursor).toThrow(invalid)
    }
  })
})
