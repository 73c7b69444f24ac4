import { randomUUID } from 'node:crypto'
import { expectProblem } from '@platform/http/testing'
import { createLogger } from '@platform/logging'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createSessionCleanup } from '../src/auth/session-cleanup.js'
import { hashRefreshToken, type TokenResponse } from '../src/auth/sessions.js'
import { type FeedAuthHarness, form, startFeedAuth } from './auth-harness.js'

/**
 * Sessions and refresh tokens (src/auth/sessions.ts, token-routes.ts) against real PostgreSQL and Redis: rotation,
 * reuse detection and the grace rule, concurrent refreshes, logout, idle and absolute expiry, and the token
 * endpoint's refusals. The clock of expiry is the harness's, moved by the tests.
 */
const IDLE = 3600
const ABSOLUTE = 7200
let h: FeedAuthHarness

beforeAll(async () => {
  h = await startFeedAuth({
    FEED_REFRESH_IDLE_TTL_S: String(IDLE),
    FEED_REFRESH_ABSOLUTE_TTL_S: String(ABSOLUTE),
    FEED_REFRESH_REUSE_GRACE_S: '10',
    FEED_AUTH_RATE_LIMIT_MAX: '10000',
  })
})
afterEach(() => h.clock.reset())
afterAll(async () => {
  await h?.close()
})

const refresh = (refreshToken: string, as: 'form' | 'json' = 'form') =>
  h.app.inject({
    method: 'POST',
    url: '/v1/auth/token',
    ...(as === 'form'
      ? form({ grant_type: 'refresh_token', refresh_token: refreshToken })
      : { payload: { grant_type: 'refresh_token', refresh_token: refreshToken } }),
  })

const session = (accessToken: string) =>
  h.app.inject({ method: 'GET', url: '/v1/auth/session', headers: { authorization: `Bearer ${accessToken}` } })

async function login(): Promise<{ userId: string; tokens: TokenResponse }> {
  const user = await h.createUser()
  const tokens = await h.sessions.start({ userId: user.id, provider: 'dev', userAgent: 'vitest', ip: '127.0.0.1' })
  return { userId: user.id, tokens }
}

const familyOf = async (refreshToken: string) => {
  const [row] = await h.testEnv.schema.sql<{ revoked_reason: string | null; tokens: number }[]>`
    select s.revoked_reason, (select count(*)::int from refresh_tokens a where a.session_id = s.id) as tokens
    from refresh_tokens t join sessions s on s.id = t.session_id
    where t.token_hash = ${hashRefreshToken(refreshToken)}`
  return row
}

const reuseCount = async (outcome: 'revoked' | 'grace') => {
  const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
  const line = text.split('\n').find((l) => l.startsWith('feed_refresh_token_reuse_total{') && l.includes(outcome))
  return line ? Number(line.split(' ').pop()) : 0
}

/** A command (POST /v1/posts) with an access token. */
const post = (accessToken: string) =>
  h.app.inject({
    method: 'POST',
    url: '/v1/posts',
    headers: { authorization: `Bearer ${accessToken}`, 'idempotency-key': `"${randomUUID()}"` },
    payload: { text: 'after the revocation' },
  })

describe('refresh-token rotation', () => {
  it('hands out a new pair for a refresh token, as a form or as JSON, and stores only its hash', async () => {
    const { userId, tokens } = await login()
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, refresh_token_expires_in: IDLE })
    expect(tokens.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/)

    const first = await refresh(tokens.refresh_token)
    expect(first.statusCode).toBe(200)
    expect(first.headers['cache-control']).toBe('no-store')
    const next = first.json() as TokenResponse
    expect(Object.keys(next).sort()).toEqual(
      ['access_token', 'expires_in', 'refresh_token', 'refresh_token_expires_in', 'token_type'].sort(),
    )
    expect(next.refresh_token).not.toBe(tokens.refresh_token)

    const second = await refresh(next.refresh_token, 'json')
    expect(second.statusCode).toBe(200)
    const latest = second.json() as TokenResponse
    const me = await session(latest.access_token)
    expect(me.statusCode).toBe(200)
    expect(me.json()).toMatchObject({ user_id: userId, provider: 'dev' })

    const stored = await h.testEnv.schema.sql<{ token_hash: Buffer }[]>`
      select token_hash from refresh_tokens where session_id = ${(me.json() as { session_id: string }).session_id}`
    expect(stored).toHaveLength(3)
    const dump = JSON.stringify(
      await h.testEnv.schema.sql`select * from refresh_tokens join sessions on sessions.id = session_id`,
    )
    for (const t of [tokens, next, latest]) {
      expect(dump).not.toContain(t.refresh_token)
      expect(stored.some((r) => r.token_hash.equals(hashRefreshToken(t.refresh_token)))).toBe(true)
    }
  })

  it('revokes the whole family when a rotated token comes back: the newest token fails from then on', async () => {
    const { tokens } = await login()
    const rotated = (await refresh(tokens.refresh_token)).json() as TokenResponse
    const before = await reuseCount('revoked')
    h.clock.advance(11) // past the grace window

    const replay = await refresh(tokens.refresh_token)
    expectProblem(replay, 401, { error: 'invalid_grant' })
    expect((replay.json() as { type: string }).type).toMatch(/\/invalid-grant$/)
    expect(replay.headers['www-authenticate']).toMatch(/^Bearer /)
    expect(await familyOf(tokens.refresh_token)).toMatchObject({ revoked_reason: 'reuse' })
    expectProblem(await refresh(rotated.refresh_token), 401, { error: 'invalid_grant' })
    expect(await reuseCount('revoked')).toBe(before + 1)
    // The thief's access token (the newest of the family) dies at once too, not at its expiry.
    const stolen = await post(rotated.access_token)
    expectProblem(stolen, 401)
    expect(stolen.headers['www-authenticate']).toContain('error="invalid_token"')

    const warned = h.logs.filter((l) => l.includes('refresh token reuse'))
    expect(warned).toHaveLength(1)
    expect(JSON.parse(warned[0] as string)).toMatchObject({ level: 'warn' })
    const everything = h.logs.join('\n')
    for (const t of [tokens.refresh_token, rotated.refresh_token]) expect(everything).not.toContain(t)
  })

  it('refuses a token exchanged moments ago without revoking (grace), and revokes once its successor was used', async () => {
    const { tokens } = await login()
    const next = (await refresh(tokens.refresh_token)).json() as TokenResponse
    const graceBefore = await reuseCount('grace')

    const raced = await refresh(tokens.refresh_token)
    expectProblem(raced, 401, { error: 'invalid_grant', detail: expect.stringMatching(/just exchanged/) })
    expect(await familyOf(tokens.refresh_token)).toMatchObject({ revoked_reason: null })
    expect(await reuseCount('grace')).toBe(graceBefore + 1)

    // The successor works; after that the old token is a replay even inside the window.
    const latest = (await refresh(next.refresh_token)).json() as TokenResponse
    expectProblem(await refresh(tokens.refresh_token), 401)
    expect(await familyOf(tokens.refresh_token)).toMatchObject({ revoked_reason: 'reuse' })
    expectProblem(await refresh(latest.refresh_token), 401)
  })

  it('lets exactly one of concurrent refreshes with one token win; the family survives (grace)', async () => {
    const { tokens } = await login()
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(tokens.refresh_token)))
    const statuses = answers.map((a) => a.statusCode).sort()
    expect(statuses).toEqual([200, 401, 401, 401, 401])
    for (const a of answers.filter((x) => x.statusCode === 401)) expectProblem(a, 401, { error: 'invalid_grant' })
    expect(await familyOf(tokens.refresh_token)).toMatchObject({ revoked_reason: null, tokens: 2 })
    const winner = answers.find((a) => a.statusCode === 200)?.json() as TokenResponse
    expect((await refresh(winner.refresh_token)).statusCode).toBe(200)
  })
})

describe('logout', () => {
  it('with the refresh token revokes the family: its refresh token and the session route fail', async () => {
    const { tokens } = await login()
    expect((await session(tokens.access_token)).statusCode).toBe(200)
    const out = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      ...form({ refresh_token: tokens.refresh_token }),
    })
    expect(out.statusCode).toBe(204)
    expect(await familyOf(tokens.refresh_token)).toMatchObject({ revoked_reason: 'logout' })
    expectProblem(await refresh(tokens.refresh_token), 401, { error: 'invalid_grant' })
    const me = await session(tokens.access_token)
    expectProblem(me, 401)
    expect(me.headers['www-authenticate']).toContain('error="invalid_token"')
    // A command with the session's access token is refused as well (revoked-sessions.ts).
    const command = await post(tokens.access_token)
    expectProblem(command, 401)
    expect(command.headers['www-authenticate']).toContain('error="invalid_token"')
  })

  it("with the access token revokes its sid's family, the newest refresh token included", async () => {
    const { tokens } = await login()
    const next = (await refresh(tokens.refresh_token)).json() as TokenResponse
    const out = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: `Bearer ${next.access_token}` },
    })
    expect(out.statusCode).toBe(204)
    expectProblem(await refresh(next.refresh_token), 401, { error: 'invalid_grant' })
  })

  it('answers an unknown refresh token 204, a bad bearer token 401, and neither 400', async () => {
    const unknown = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      payload: { refresh_token: 'x'.repeat(43) },
    })
    expect(unknown.statusCode).toBe(204)
    const bad = await h.app.inject({
      method: 'POST',
      url: '/v1/auth/logout',
      headers: { authorization: 'Bearer x.y.z' },
    })
    expectProblem(bad, 401)
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"')
    expectProblem(await h.app.inject({ method: 'POST', url: '/v1/auth/logout' }), 400, { error: 'invalid_request' })
  })
})

describe('lifetimes', () => {
  it('expires a refresh token not used within the idle lifetime', async () => {
    const { tokens } = await login()
    h.clock.advance(IDLE + 1)
    const late = await refresh(tokens.refresh_token)
    expectProblem(late, 401, { error: 'invalid_grant', detail: expect.stringMatching(/expired/) })
  })

  it('ends a session at its absolute lifetime however often it is refreshed', async () => {
    const { tokens } = await login()
    h.clock.advance(3000)
    const a = (await refresh(tokens.refresh_token)).json() as TokenResponse
    expect(a.refresh_token_expires_in).toBe(IDLE)
    h.clock.advance(3000)
    const b = (await refresh(a.refresh_token)).json() as TokenResponse
    // The idle lifetime is cut by the session's end: 7200 - 6000 s left.
    expect(b.refresh_token_expires_in).toBe(ABSOLUTE - 6000)
    h.clock.advance(ABSOLUTE - 6000)
    expectProblem(await refresh(b.refresh_token), 401, { detail: expect.stringMatching(/expired/) })
  })
})

describe('the token endpoint refuses', () => {
  const post = (payload: Record<string, string> | string, type = 'application/x-www-form-urlencoded') =>
    h.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      headers: { 'content-type': type },
      payload: typeof payload === 'string' ? payload : new URLSearchParams(payload).toString(),
    })

  it('another grant type (400 unsupported_grant_type), a missing or repeated parameter (400 invalid_request)', async () => {
    const password = await post({ grant_type: 'password', username: 'a', password: 'b' })
    expectProblem(password, 400, { error: 'unsupported_grant_type' })
    expect((password.json() as { type: string }).type).toMatch(/\/unsupported-grant-type$/)
    expectProblem(await post({ grant_type: 'refresh_token' }), 400, { error: 'invalid_request' })
    expectProblem(await post({ grant_type: 'refresh_token', refresh_token: '' }), 400, { error: 'invalid_request' })
    expectProblem(await post('grant_type=refresh_token&refresh_token=a&refresh_token=b'), 400, {
      error: 'invalid_request',
    })
    expectProblem(await post({ refresh_token: 'x' }), 400)
  })

  it('a token it never issued (401 invalid_grant), malformed or well-formed', async () => {
    expectProblem(await refresh('not a token'), 401, { error: 'invalid_grant' })
    expectProblem(await refresh('A'.repeat(43)), 401, { error: 'invalid_grant' })
  })
})

describe('the cleanup job', () => {
  it('deletes ended sessions and rotated tokens past their expiry, never a live token of a live session', async () => {
    const { sql } = h.testEnv.schema
    const cleanup = createSessionCleanup({
      sql,
      logger: createLogger({ service: 'feed', level: 'silent' }),
      intervalMs: 60_000,
      now: () => new Date(h.clock.now),
      batchSize: 2,
    })
    const ending = await login()
    h.clock.advance(ABSOLUTE - 100)
    const { tokens: t1 } = await login()
    const t2 = (await refresh(t1.refresh_token)).json() as TokenResponse
    h.clock.advance(3000)
    const t3 = (await refresh(t2.refresh_token)).json() as TokenResponse
    // Past the first session's end and the idle expiry of t1 and t2 (rotated); t3 and its session live on.
    h.clock.advance(700)
    const before = await sql<{ n: number }[]>`select count(*)::int as n from sessions`

    const report = await cleanup.runOnce()
    expect(report.sessions).toBeGreaterThanOrEqual(1)
    expect(report.tokens).toBeGreaterThanOrEqual(2)
    expect(await familyOf(ending.tokens.refresh_token)).toBeUndefined()
    expect(await familyOf(t1.refresh_token)).toBeUndefined()
    expect(await familyOf(t2.refresh_token)).toBeUndefined()
    expect(await familyOf(t3.refresh_token)).toMatchObject({ revoked_reason: null, tokens: 1 })
    const after = await sql<{ n: number }[]>`select count(*)::int as n from sessions`
    expect(after[0]?.n).toBe((before[0]?.n ?? 0) - report.sessions)
    expect((await refresh(t3.refresh_token)).statusCode).toBe(200)
  })
})
