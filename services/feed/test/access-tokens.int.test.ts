import type { ServiceApp } from '@platform/http'
import { expectProblem } from '@platform/http/testing'
import { type CryptoKey, decodeProtectedHeader, exportSPKI, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { TokenResponse } from '../src/auth/sessions.js'
import { generateSigningJwk } from '../src/auth/signing-keys.js'
import { type FeedAuthHarness, jwkSet, startFeedAuth } from './auth-harness.js'

/**
 * Bearer authentication (src/auth/authenticate.ts, access-tokens.ts) against the app: every forged or unfit token
 * of issue 13 §2 is a 401 problem+json with `WWW-Authenticate: Bearer ... error="invalid_token"`, a missing one a
 * 401 without an error code (RFC 6750 §3.1); and key rotation through FEED_JWT_KEYS. GET /v1/auth/session is the
 * protected route.
 */
let h: FeedAuthHarness
let keyA: JWK
let keyB: JWK
let valid: TokenResponse
let claims: { sub: string; sid: string }

beforeAll(async () => {
  keyA = await generateSigningJwk('EdDSA', 'key-a')
  keyB = await generateSigningJwk('EdDSA', 'key-b')
  h = await startFeedAuth({}, { keys: [keyA] })
  const user = await h.createUser()
  valid = await h.sessions.start({ userId: user.id, provider: 'dev' })
  const payload = JSON.parse(Buffer.from(valid.access_token.split('.')[1] as string, 'base64url').toString())
  claims = { sub: payload.sub, sid: payload.sid }
})
afterAll(async () => {
  await h?.close()
})

const get = (app: ServiceApp, authorization?: string) =>
  app.inject({ method: 'GET', url: '/v1/auth/session', headers: authorization ? { authorization } : {} })

const now = () => Math.floor(Date.now() / 1000)
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A token as the feed would sign it, with `change` applied to the claims and `header` to the header. */
async function forge(
  options: { key?: JWK; alg?: string; header?: Record<string, unknown>; claims?: JWTPayload; secret?: Uint8Array } = {},
) {
  const alg = options.alg ?? 'EdDSA'
  const key = options.secret ?? (await importJWK(options.key ?? keyA, alg))
  return new SignJWT({
    iss: h.config.FEED_JWT_ISSUER,
    aud: h.config.FEED_JWT_AUDIENCE,
    sub: claims.sub,
    sid: claims.sid,
    jti: crypto.randomUUID(),
    iat: now(),
    exp: now() + 600,
    ...options.claims,
  })
    .setProtectedHeader({ alg, kid: 'key-a', typ: 'at+jwt', ...options.header })
    .sign(key)
}

async function expectInvalidToken(token: string) {
  const res = await get(h.app, `Bearer ${token}`)
  expectProblem(res, 401)
  expect((res.json() as { type: string }).type).toMatch(/\/invalid-token$/)
  expect(res.headers['www-authenticate']).toBe('Bearer realm="feed", error="invalid_token"')
}

describe('bearer authentication', () => {
  it('accepts a token the feed signed (the control for every refusal below)', async () => {
    expect((await get(h.app, `Bearer ${valid.access_token}`)).statusCode).toBe(200)
    expect((await get(h.app, `Bearer ${await forge()}`)).statusCode).toBe(200)
  })

  it('answers a missing token 401 with a challenge that has no error code', async () => {
    const res = await get(h.app)
    expectProblem(res, 401)
    expect((res.json() as { type: string }).type).toMatch(/\/authentication-required$/)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="feed"')
  })

  it('refuses alg "none"', async () => {
    const payload = { iss: h.config.FEED_JWT_ISSUER, aud: h.config.FEED_JWT_AUDIENCE, ...claims, jti: 'x' }
    const unsigned = `${b64({ alg: 'none', typ: 'at+jwt', kid: 'key-a' })}.${b64({ ...payload, iat: now(), exp: now() + 600 })}.`
    await expectInvalidToken(unsigned)
  })

  it('refuses an HS256 token whose secret is the public key (PEM or JWK)', async () => {
    const publicJwk = { kty: keyA.kty, crv: keyA.crv, x: keyA.x }
    const pem = await exportSPKI((await importJWK(publicJwk, 'EdDSA', { extractable: true })) as CryptoKey)
    await expectInvalidToken(await forge({ alg: 'HS256', secret: new TextEncoder().encode(pem) }))
    await expectInvalidToken(await forge({ alg: 'HS256', secret: new TextEncoder().encode(JSON.stringify(publicJwk)) }))
  })

  it('refuses an unknown kid, a foreign key under a known kid, and another algorithm', async () => {
    await expectInvalidToken(await forge({ header: { kid: 'no-such-key' } }))
    await expectInvalidToken(await forge({ header: {}, key: await generateSigningJwk('EdDSA', 'key-a') }))
    const es256 = await generateSigningJwk('ES256', 'key-a')
    await expectInvalidToken(await forge({ alg: 'ES256', key: es256 }))
    // No kid at all.
    await expectInvalidToken(await forge({ header: { kid: undefined } }))
  })

  it('refuses a wrong audience or issuer, and a token that is not an access token (typ)', async () => {
    await expectInvalidToken(await forge({ claims: { aud: 'another-api' } }))
    await expectInvalidToken(await forge({ claims: { iss: 'https://attacker.example' } }))
    await expectInvalidToken(await forge({ header: { typ: 'JWT' } }))
    await expectInvalidToken(await forge({ claims: { sid: undefined } }))
  })

  it('refuses an expired token and one not yet valid (nbf or iat in the future)', async () => {
    await expectInvalidToken(await forge({ claims: { iat: now() - 2000, exp: now() - 60 } }))
    await expectInvalidToken(await forge({ claims: { nbf: now() + 120 } }))
    await expectInvalidToken(await forge({ claims: { iat: now() + 120, exp: now() + 900 } }))
  })

  it('refuses a header that is not "Bearer <token>" and a token that is not a JWT', async () => {
    const basic = await get(h.app, 'Basic dXNlcjpwYXNz')
    expectProblem(basic, 401)
    expect(basic.headers['www-authenticate']).toContain('error="invalid_token"')
    await expectInvalidToken('not-a-jwt')
    await expectInvalidToken(`${valid.access_token.slice(0, -4)}AAAA`)
  })
})

describe('tokens verified before (access-tokens.ts keeps them by their text)', () => {
  it('refuses a token it accepted before once it has expired', async () => {
    const token = await forge({ claims: { exp: now() + 60 } })
    expect((await get(h.app, `Bearer ${token}`)).statusCode).toBe(200)
    expect((await get(h.app, `Bearer ${token}`)).statusCode).toBe(200)
    // Two minutes on (only Date moves): past exp and the clock tolerance.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 120_000 })
    try {
      await expectInvalidToken(token)
    } finally {
      vi.useRealTimers()
    }
  })

  it('still refuses a token of a session revoked after the token was accepted', async () => {
    const user = await h.createUser()
    const session = await h.sessions.start({ userId: user.id, provider: 'dev' })
    expect((await get(h.app, `Bearer ${session.access_token}`)).statusCode).toBe(200)
    const out = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: `Bearer ${session.access_token}` },
      payload: { refresh_token: session.refresh_token },
    })
    expect(out.statusCode).toBeLessThan(300)
    await expectInvalidToken(session.access_token)
  })
})

describe('key rotation through FEED_JWT_KEYS', () => {
  it('verifies the old key while it is listed second, signs with the first, and refuses it once dropped', async () => {
    const oldToken = valid.access_token
    const rotated = await h.buildAnother({ FEED_JWT_KEYS: jwkSet(keyB, keyA) })
    expect((await get(rotated, `Bearer ${oldToken}`)).statusCode).toBe(200)

    const jwks = (await rotated.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json() as { keys: JWK[] }
    expect(jwks.keys.map((k) => k.kid)).toEqual(['key-b', 'key-a'])
    for (const k of jwks.keys) expect(k).not.toHaveProperty('d')

    // A refresh on the rotated instance signs with the new key, which the old configuration does not know.
    const user = await h.createUser()
    const started = await h.sessions.start({ userId: user.id, provider: 'dev' })
    const refreshed = await rotated.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { grant_type: 'refresh_token', refresh_token: started.refresh_token },
    })
    const fresh = (refreshed.json() as TokenResponse).access_token
    expect(decodeProtectedHeader(fresh).kid).toBe('key-b')
    expect((await get(rotated, `Bearer ${fresh}`)).statusCode).toBe(200)
    await expectInvalidToken(fresh)

    const dropped = await h.buildAnother({ FEED_JWT_KEYS: jwkSet(keyB) })
    const refused = await get(dropped, `Bearer ${oldToken}`)
    expectProblem(refused, 401)
    expect(refused.headers['www-authenticate']).toContain('error="invalid_token"')
    expect((await get(dropped, `Bearer ${fresh}`)).statusCode).toBe(200)
  })
})
