import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, expectCompleteOpenApi, type ServiceTestEnv } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'
import { CONTENT_SECURITY_POLICY } from '../src/web/web-client.js'

/**
 * The web client's routes (docs/feed.md#web-client): what they serve, their security headers, revalidation, the
 * page's settings, their place in the OpenAPI document; and the redirect allow-list's development default that
 * lets the page receive a login. The page itself runs in a browser in web-client.e2e.test.ts.
 */
const PUBLIC_URL = 'http://127.0.0.1:3902'
const PROVIDERS = {
  providers: [
    {
      name: 'dev',
      label: 'DEVELOPMENT identity provider',
      kind: 'oidc',
      development: true,
      issuer: 'http://127.0.0.1:3909',
      clientId: 'feed-dev',
      clientSecret: 'not-a-secret',
    },
  ],
}

let env: ServiceTestEnv
let app: ServiceApp

beforeAll(async () => {
  env = await createServiceTestEnv('feed_webroutes', {
    LOG_LEVEL: 'silent',
    FEED_PUBLIC_URL: PUBLIC_URL,
    FEED_AUTH_PROVIDERS: JSON.stringify(PROVIDERS),
  })
  app = await buildApp(loadServiceConfig(env.env))
})
afterAll(async () => {
  await app?.close()
  await env?.cleanup()
})

describe('the web client routes', () => {
  it('serves the page and its files with their types and a strict Content-Security-Policy', async () => {
    for (const [url, type, marker] of [
      ['/', 'text/html; charset=utf-8', '<script type="module" src="/web/app.js">'],
      ['/web/app.js', 'text/javascript; charset=utf-8', "from './api.js'"],
      ['/web/api.js', 'text/javascript; charset=utf-8', 'export async function request'],
      ['/web/app.css', 'text/css; charset=utf-8', '[hidden]'],
      ['/web/icon.svg', 'image/svg+xml', '<svg'],
    ] as const) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-type'], url).toBe(type)
      expect(res.body, url).toContain(marker)
      expect(res.headers['content-security-policy'], url).toBe(CONTENT_SECURITY_POLICY)
      expect(res.headers['x-content-type-options'], url).toBe('nosniff')
      expect(res.headers['referrer-policy'], url).toBe('no-referrer')
      expect(res.headers['x-frame-options'], url).toBe('DENY')
      expect(res.headers['cache-control'], url).toBe('no-cache')
    }
    // Nothing but this origin runs or styles the page, and nothing can frame it.
    const policy = Object.fromEntries(
      CONTENT_SECURITY_POLICY.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]),
    )
    expect(policy).toMatchObject({
      'default-src': "'none'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'frame-ancestors': "'none'",
      'require-trusted-types-for': "'script'",
    })
  })

  it('answers 304 to a browser whose copy is current, and the file to one whose copy is not', async () => {
    const first = await app.inject({ method: 'GET', url: '/web/app.js' })
    const etag = String(first.headers.etag)
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/)
    const again = await app.inject({ method: 'GET', url: '/web/app.js', headers: { 'if-none-match': `W/${etag}` } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')
    const stale = await app.inject({ method: 'GET', url: '/web/app.js', headers: { 'if-none-match': '"old"' } })
    expect(stale.statusCode).toBe(200)
  })

  it('tells the page the providers and a login URL that returns to the page', async () => {
    const res = await app.inject({ method: 'GET', url: '/web/config.json' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    const redirect = `${PUBLIC_URL}/`
    expect(res.json()).toEqual({
      providers: [
        {
          name: 'dev',
          label: 'DEVELOPMENT identity provider',
          login_url: `${PUBLIC_URL}/v1/auth/dev/login?redirect_uri=${encodeURIComponent(redirect)}`,
        },
      ],
      redirect_uri: redirect,
    })
  })

  it('has no other files: a path under /web/ that is not one of them is a 404 problem', async () => {
    for (const url of ['/web/', '/web/../src/app.ts', '/web/%2e%2e/package.json', '/index.html', '/web/APP.JS']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(404)
      expect(res.headers['content-type'], url).toMatch(/^application\/problem\+json/)
    }
  })

  it('is in the OpenAPI document under the web tag, so the completeness check holds', async () => {
    const document = await expectCompleteOpenApi(app)
    for (const path of ['/', '/web/app.js', '/web/api.js', '/web/app.css', '/web/icon.svg', '/web/config.json']) {
      expect((document.paths[path]?.get as { tags?: string[] } | undefined)?.tags, path).toEqual(['web'])
    }
  })
})

describe('the redirect allow-list default', () => {
  it('holds the feed’s own page outside production, beside what the variable lists', () => {
    const config = loadServiceConfig({
      FEED_PUBLIC_URL: PUBLIC_URL,
      FEED_AUTH_PROVIDERS: JSON.stringify(PROVIDERS),
      FEED_AUTH_REDIRECT_ALLOWLIST: 'http://127.0.0.1:1/app/callback',
    })
    expect(config.clientRedirects.match(`${PUBLIC_URL}/`)?.href).toBe(`${PUBLIC_URL}/`)
    expect(config.clientRedirects.match('http://127.0.0.1:1/app/callback')).toBeDefined()
    // Exact matching still: not another path or port of the feed.
    expect(config.clientRedirects.match(`${PUBLIC_URL}/docs`)).toBeUndefined()
    expect(config.clientRedirects.match('http://127.0.0.1:3903/')).toBeUndefined()
  })

  it('does not in production, where the variable says whether the page may receive logins', () => {
    const production = {
      NODE_ENV: 'production',
      FEED_PUBLIC_URL: 'https://feed.example',
      FEED_AUTH_PROVIDERS: JSON.stringify({
        providers: [
          { name: 'idp', kind: 'oidc', issuer: 'https://idp.example', clientId: 'c', clientSecretEnv: 'IDP_SECRET' },
        ],
      }),
      IDP_SECRET: 'secret',
    }
    expect(loadServiceConfig(production).clientRedirects.match('https://feed.example/')).toBeUndefined()
    const listed = loadServiceConfig({ ...production, FEED_AUTH_REDIRECT_ALLOWLIST: 'https://feed.example/' })
    expect(listed.clientRedirects.match('https://feed.example/')).toBeDefined()
  })
})
