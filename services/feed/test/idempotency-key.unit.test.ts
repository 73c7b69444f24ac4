import { ProblemError } from '@platform/http'
import { describe, expect, it } from 'vitest'
import { parseIdempotencyKey, requestFingerprint } from '../src/idempotency/idempotency-key.js'

const typeOf = (header: string | string[] | undefined) => {
  try {
    parseIdempotencyKey(header)
    return 'ok'
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error
    return error.type.split('/').at(-1)
  }
}

describe('parseIdempotencyKey', () => {
  it('reads an sf-string (RFC 8941 §3.3.3), escapes included, and the bare form as the same key', () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324')
    expect(parseIdempotencyKey('8e03978e-40d5-43e8-bc93-6894a57f9324')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324')
    expect(parseIdempotencyKey(' "with space and \\"quotes\\" and \\\\" ')).toBe('with space and "quotes" and \\')
    expect(parseIdempotencyKey(`"${'k'.repeat(255)}"`)).toHaveLength(255)
  })

  it('refuses a missing key and anything that is not one string of printable ASCII', () => {
    expect(typeOf(undefined)).toBe('idempotency-key-missing')
    expect(typeOf('')).toBe('idempotency-key-missing')
    for (const bad of [
      '""',
      '"a',
      'a"',
      '"a", "b"',
      'a, b',
      '"a";p=1',
      'a;p=1',
      '"a\\b"',
      '"é"',
      'é',
      '"\t"',
      `"${'k'.repeat(256)}"`,
      'a b',
    ]) {
      expect(typeOf(bad), bad).toBe('idempotency-key-invalid')
    }
    expect(typeOf(['"a"', '"b"'])).toBe('idempotency-key-invalid')
  })
})

describe('requestFingerprint', () => {
  it('is the same for the same method, route and input in any member order, and differs otherwise', () => {
    const a = requestFingerprint('post', '/v1/posts', { text: 'hi', extra: 1 })
    expect(a).toHaveLength(32)
    expect(requestFingerprint('POST', '/v1/posts', { extra: 1, text: 'hi' }).equals(a)).toBe(true)
    expect(requestFingerprint('POST', '/v1/posts', { text: 'hi!', extra: 1 }).equals(a)).toBe(false)
    expect(requestFingerprint('PUT', '/v1/posts', { text: 'hi', extra: 1 }).equals(a)).toBe(false)
    expect(requestFingerprint('POST', '/v1/other', { text: 'hi', extra: 1 }).equals(a)).toBe(false)
  })
})
