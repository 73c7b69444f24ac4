import { ConfigError } from '@platform/config'
import { describe, expect, it } from 'vitest'
import { generateSigningJwk, loadSigningKeys } from '../src/auth/signing-keys.js'

/**
 * FEED_JWT_KEYS (src/auth/signing-keys.ts): a bad value stops the start with one line that names the variable and
 * the key at fault, and never echoes private key material.
 */
const load = (keys: string | undefined, production = false) => loadSigningKeys({ algorithm: 'EdDSA', keys, production })

async function refusal(keys: string | undefined, production = false): Promise<ConfigError> {
  const error = await load(keys, production).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(ConfigError)
  return error as ConfigError
}

describe('FEED_JWT_KEYS', () => {
  it('loads a JWK Set: the first key signs, all verify, and no public JWK holds "d"', async () => {
    const a = await generateSigningJwk('EdDSA', 'a')
    const b = await generateSigningJwk('EdDSA', 'b')
    const keys = await load(JSON.stringify({ keys: [a, b] }))
    expect(keys.active.kid).toBe('a')
    expect([...keys.byKid.keys()]).toEqual(['a', 'b'])
    expect(keys.ephemeral).toBe(false)
    for (const key of keys.byKid.values()) expect(key.publicJwk).not.toHaveProperty('d')
  })

  it('generates a key outside production when unset, and is required in production', async () => {
    expect((await load(undefined)).ephemeral).toBe(true)
    const error = await refusal(undefined, true)
    expect(error.message).toMatch(/FEED_JWT_KEYS: is required in production/)
  })

  it('names FEED_JWT_KEYS and the bad key in one line, without the private key', async () => {
    const good = await generateSigningJwk('EdDSA', 'good')
    const es256 = await generateSigningJwk('ES256', 'p256')
    const { d: _d, ...publicOnly } = good
    const cases: [string, RegExp][] = [
      ['{not json', /is not JSON/],
      ['{"keys":[]}', /at least one key/],
      ['[1,2]', /must be a JWK Set/],
      [JSON.stringify({ keys: ['x'] }), /key 0 is not an object/],
      [JSON.stringify({ keys: [{ ...good, kid: undefined }] }), /key 0 needs a "kid"/],
      [JSON.stringify({ keys: [good, es256] }), /key 1 \(kid p256\) must be kty OKP crv Ed25519/],
      [JSON.stringify({ keys: [publicOnly] }), /key 0 \(kid good\) is not a private key/],
      [JSON.stringify({ keys: [{ ...good, alg: 'ES256' }] }), /has alg ES256, FEED_JWT_ALG is EdDSA/],
      [JSON.stringify({ keys: [good, { ...good }] }), /kid good appears twice/],
      [JSON.stringify({ keys: [{ ...good, x: 'AAAA' }] }), /key 0 \(kid good\) cannot be imported/],
    ]
    for (const [value, expected] of cases) {
      const error = await refusal(value)
      expect(error.problems).toHaveLength(1)
      expect(error.problems[0]?.variable).toBe('FEED_JWT_KEYS')
      const lines = error.message.split('\n').filter((line) => line.includes('FEED_JWT_KEYS'))
      expect(lines, value).toHaveLength(1)
      expect(lines[0]).toMatch(expected)
      expect(error.message).not.toContain(good.d as string)
      expect(error.message).not.toContain(es256.d as string)
    }
  })
})
