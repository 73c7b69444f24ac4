import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, expectProblem, type ServiceTestEnv } from '@platform/http/testing'
import { rabbitAdmin, startTsProcess, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

/**
 * The providers configuration at start, as an operator meets it: the feed process with a bad entry exits 1 with
 * one line naming it (no secret in it); production refuses the checked-in development file. And the login
 * routes' own rate limit (the tokens work's authRateLimit), counted per client address; the exchanges the login
 * publishes to exist before any consumer declares them.
 */
const server = fileURLToPath(new URL('../src/server.ts', import.meta.url))
const SECRET = 'a-client-secret-that-must-not-be-printed'
const files: string[] = []

function providersFile(providers: unknown[]): string {
  const file = join(tmpdir(), `feed-providers-${randomUUID()}.json`)
  writeFileSync(file, JSON.stringify({ providers }))
  files.push(file)
  return file
}

async function startFails(env: Record<string, string>): Promise<{ code: unknown; lines: string[] }> {
  const child = startTsProcess(server, { LOG_LEVEL: 'info', PORT: '0', ...env })
  const code = await child.exited
  return { code, lines: child.output().trim().split('\n') }
}

afterAll(() => {
  for (const file of files) rmSync(file, { force: true })
})

describe('a bad providers configuration stops the feed at start', () => {
  it('exits 1 with one line naming the file, the entry and the problem, never the secret', async () => {
    const file = providersFile([
      { name: 'google', kind: 'oidc', issuer: 'https://accounts.google.com', clientId: 'x', clientSecretEnv: 'G' },
      { name: 'github', kind: 'github', clientId: 'y', clientSecret: SECRET, clientSecretEnv: 'GH' },
    ])
    const { code, lines } = await startFails({ FEED_AUTH_PROVIDERS_FILE: file, G: SECRET, GH: SECRET })
    expect(code).toBe(1)
    expect(lines).toEqual([
      `invalid configuration: FEED_AUTH_PROVIDERS_FILE ${file}: /providers/1 ("github") has both clientSecret and clientSecretEnv: keep one`,
    ])
    expect(lines.join('\n')).not.toContain(SECRET)
  })

  it('exits 1 in production with the checked-in development file', async () => {
    const { code, lines } = await startFails({ NODE_ENV: 'production', FEED_JWT_KEYS: '' })
    expect(code).toBe(1)
    // FEED_JWT_KEYS is checked later, at build: the providers document is what stops this start.
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /^invalid configuration: FEED_AUTH_PROVIDERS_FILE .*infra\/feed-auth-providers\.json: \/providers\/0 \("dev"\) is the development identity provider/,
    )
  })

  it('exits 1 naming an allow-list entry that would be an open redirect', async () => {
    const { code, lines } = await startFails({ FEED_AUTH_REDIRECT_ALLOWLIST: 'https://app.example/cb javascript:x' })
    expect(code).toBe(1)
    expect(lines).toEqual([
      'invalid configuration: FEED_AUTH_REDIRECT_ALLOWLIST entry 2 ("javascript:x") holds credentials, a fragment or a scheme that is never a redirect target',
    ])
  })
})

describe('the feed app', () => {
  let env: ServiceTestEnv
  let app: ServiceApp

  beforeAll(async () => {
    env = await createServiceTestEnv('feed_login_rl', {
      LOG_LEVEL: 'silent',
      FEED_AUTH_RATE_LIMIT_MAX: '3',
      FEED_AUTH_RATE_LIMIT_WINDOW_MS: '60000',
    })
    app = await buildApp(loadServiceConfig(env.env))
  })
  afterAll(async () => {
    await app?.close()
    await env?.cleanup()
  })

  it('answers 429 with Retry-After past the budget, per route and client address', async () => {
    const login = (remoteAddress: string) => app.inject({ method: 'GET', url: '/v1/auth/nope/login', remoteAddress })
    for (let i = 0; i < 3; i++) expectProblem(await login('10.0.0.1'), 404)
    const limited = await login('10.0.0.1')
    expectProblem(limited, 429, { type: 'https://event-platform.dev/problems/rate-limited' })
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    // Another address has its own budget; the callback route too.
    expectProblem(await login('10.0.0.2'), 404)
    expectProblem(await app.inject({ method: 'GET', url: '/v1/auth/nope/callback', remoteAddress: '10.0.0.1' }), 404)
  })

  it('declares the exchanges it publishes to, so a login event in a fresh vhost is not refused', async () => {
    await app.ready()
    const names = await waitFor(async () => {
      const list = await rabbitAdmin().call<{ name: string }[]>(
        'GET',
        `/exchanges/${encodeURIComponent(env.vhost.vhost)}`,
      )
      const found = list.map((e) => e.name)
      return ['activity', 'feed', 'eventlog'].every((name) => found.includes(name)) ? found : undefined
    })
    expect(names).toEqual(expect.arrayContaining(['activity', 'feed', 'eventlog']))
  })
})
