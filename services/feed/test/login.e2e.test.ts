import { rabbitAdmin, waitFor } from '@platform/testing'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Browser, type Page } from './auth/browser.js'
import { CLIENT_REDIRECT, type LoginHarness, startLoginHarness } from './auth/login-harness.js'

/**
 * The full browser-style login (docs/feed.md#login): a browser with a cookie jar follows the redirects from the
 * feed's login route to the provider, submits its login and consent forms, and lands on the feed's callback.
 * Against a REAL oidc-provider (the development IdP module, started here on a local port), the GitHub stand-in,
 * and an OIDC stand-in whose ID tokens the test bends (wrong nonce, another issuer, a foreign key ...).
 */
let h: LoginHarness
const PROBLEMS = 'https://event-platform.dev/problems/'

beforeAll(async () => {
  h = await startLoginHarness({ FEED_AUTH_RATE_LIMIT_MAX: '1000' })
})
afterAll(async () => {
  await h?.close()
})

const isCallback = (provider: string) => (url: URL) => url.pathname === `/v1/auth/${provider}/callback`
const json = (page: Page) => JSON.parse(page.body) as Record<string, unknown>
const problemType = (page: Page) => {
  expect(page.response.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  return String(json(page).type).replace(PROBLEMS, '')
}

/** Browses from the feed's login route to the callback URL the provider sends the browser to (not yet requested). */
async function toCallback(browser: Browser, provider: string, login = 'alice', query = ''): Promise<URL> {
  const { stoppedAt, last } = await browser.browse(`${h.feedUrl}/v1/auth/${provider}/login${query}`, {
    stop: isCallback(provider),
    fill: { login, password: 'any password' },
  })
  if (!stoppedAt) throw new Error(`the provider did not come back: ${last.response.status} ${last.body.slice(0, 500)}`)
  return stoppedAt
}

/** A whole login: to the callback, then the callback itself. */
async function logIn(provider: string, login = 'alice', browser = new Browser()) {
  const callback = await toCallback(browser, provider, login)
  const page = await browser.request(callback)
  return { browser, callback, page, body: json(page) }
}

const count = async (sql: string) => {
  const [row] = await h.env.schema.sql.unsafe<{ n: number }[]>(sql)
  return row?.n ?? 0
}

describe('login through the development IdP (a real oidc-provider)', () => {
  it('creates the user on the first login and returns the same user on the second', async () => {
    const first = await logIn('dev', 'Alice Liddell')
    expect(first.page.response.status).toBe(200)
    expect(first.page.response.headers.get('cache-control')).toBe('no-store')
    expect(first.body).toMatchObject({ token_type: 'Bearer', new_user: true, expires_in: 900 })
    const userId = first.body.user_id as string

    // The access token is the feed's, for that user (verified with the feed's own JWKS).
    const jwks = createRemoteJWKSet(new URL(`${h.feedUrl}/.well-known/jwks.json`))
    const { payload } = await jwtVerify(first.body.access_token as string, jwks, { audience: 'feed-api' })
    expect(payload.sub).toBe(userId)

    // Name and handle from the profile (the dev IdP's claims come from its UserInfo endpoint).
    const [user] = await h.env.schema.sql<{ handle: string; name: string }[]>`
      select handle, name from users where id = ${userId}`
    expect(user).toEqual({ handle: 'alice_liddell', name: 'Alice Liddell' })
    const [identity] = await h.env.schema.sql`
      select provider, subject, email, email_verified from identities where user_id = ${userId}`
    expect(identity).toEqual({
      provider: 'dev',
      subject: 'Alice Liddell',
      email: 'alice_liddell@dev-idp.test',
      email_verified: true,
    })

    // A second login (a new browser: the IdP asks again) is the same user, not a new one.
    const second = await logIn('dev', 'Alice Liddell')
    expect(second.body).toMatchObject({ user_id: userId, new_user: false })
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token)
    expect(await count(`select count(*)::int as n from users where handle like 'alice_liddell%'`)).toBe(1)

    // Each login wrote its activity message (published through the outbox) and its event-log record.
    const activity: { routing_key: string; payload: string }[] = []
    await waitFor(async () => {
      // Taken off the tap queue (no requeue): collected across polls.
      const messages = await rabbitAdmin().getMessages(h.env.vhost.vhost, 'tap-activity', 50, false)
      activity.push(...messages.filter((m) => JSON.parse(m.payload).userId === userId))
      return activity.length >= 2
    })
    expect(activity[0]?.routing_key).toBe('activity.login')
    expect(JSON.parse(activity[0]?.payload ?? '{}')).toMatchObject({ kind: 'login', properties: { provider: 'dev' } })

    const records: { type: string; context: { user_id?: string; first_login?: boolean } }[] = []
    await waitFor(async () => {
      for (const m of await rabbitAdmin().getMessages(h.env.vhost.vhost, 'tap-eventlog', 50, false)) {
        const body = JSON.parse(m.payload)
        const rows = body.rows ?? [{ event_type: body.eventType, event_context: body.context }]
        for (const row of rows) records.push({ type: row.event_type, context: JSON.parse(row.event_context) })
      }
      return records.filter((r) => r.context.user_id === userId).length >= 3
    })
    expect(records.filter((r) => r.context.user_id === userId).map((r) => [r.type, r.context.first_login])).toEqual([
      ['user.created', undefined],
      ['user.logged_in', true],
      ['user.logged_in', false],
    ])
  })

  it('redirects to an allowed redirect_uri with the tokens in the fragment', async () => {
    const browser = new Browser()
    const query = `?redirect_uri=${encodeURIComponent(`${CLIENT_REDIRECT}?app_state=xyz`)}`
    const callback = await toCallback(browser, 'dev', 'carol', query)
    const page = await browser.request(callback)
    expect(page.response.status).toBe(302)
    const target = new URL(page.response.headers.get('location') ?? '')
    expect(`${target.origin}${target.pathname}${target.search}`).toBe(`${CLIENT_REDIRECT}?app_state=xyz`)
    const fragment = new URLSearchParams(target.hash.slice(1))
    expect(fragment.get('token_type')).toBe('Bearer')
    expect(fragment.get('access_token')).toMatch(/^ey/)
    expect(fragment.get('refresh_token')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(page.response.headers.get('referrer-policy')).toBe('no-referrer')
  })

  it('refuses a redirect_uri that is not on the allow-list, before going to the provider', async () => {
    for (const uri of [
      'https://evil.example/app/callback',
      'http://127.0.0.1:1/app/callback/../../evil',
      'http://127.0.0.1:1/app/callbackx',
      'http://127.0.0.1:1/app/callback#frag',
      'http://user@127.0.0.1:1/app/callback',
      'http://127.0.0.1:2/app/callback',
      '//evil.example/app/callback',
      'javascript:alert(1)',
    ]) {
      const page = await new Browser().request(`${h.feedUrl}/v1/auth/dev/login?redirect_uri=${encodeURIComponent(uri)}`)
      expect(page.response.status, uri).toBe(400)
      expect(problemType(page), uri).toBe('redirect-uri-not-allowed')
      expect(page.response.headers.get('location')).toBeNull()
    }
  })

  it('refuses a replayed callback, a replayed code under a new state, a bad state and another browser', async () => {
    const { browser, callback, page } = await logIn('dev', 'dave')
    expect(page.response.status).toBe(200)

    // The same callback again: its state was spent.
    const replay = await browser.request(callback)
    expect(replay.response.status).toBe(400)
    expect(problemType(replay)).toBe('invalid-login-state')

    // The old code with the state of a new login of the same browser: the provider refuses the code.
    const fresh = await toCallback(browser, 'dev', 'dave')
    const mixed = new URL(fresh)
    mixed.searchParams.set('code', callback.searchParams.get('code') ?? '')
    const reused = await browser.request(mixed)
    expect(reused.response.status).toBe(400)
    expect(problemType(reused)).toBe('authorization-code-rejected')
    // ... and that spent the new state too.
    expect((await browser.request(fresh)).response.status).toBe(400)

    const bad = new URL(callback)
    bad.searchParams.set('state', 'not-a-state-anyone-made')
    const badState = await browser.request(bad)
    expect(badState.response.status).toBe(400)
    expect(problemType(badState)).toBe('invalid-login-state')

    // A callback URL opened in a browser that did not start the login (login CSRF, RFC 9700 §4.7.1).
    const victim = await toCallback(new Browser(), 'dev', 'mallory')
    const elsewhere = await new Browser().request(victim)
    expect(elsewhere.response.status).toBe(400)
    expect(problemType(elsewhere)).toBe('invalid-login-state')
  })

  it('answers an unknown provider with 404 problem+json', async () => {
    const page = await new Browser().request(`${h.feedUrl}/v1/auth/nope/login`)
    expect(page.response.status).toBe(404)
    expect(problemType(page)).toBe('unknown-identity-provider')
  })
})

describe('ID tokens the feed refuses (OIDC stand-in)', () => {
  it('logs in with a good ID token, its profile claims taken from the token', async () => {
    h.oidc.subject = 'stand-in-good'
    h.oidc.tamper = {}
    const { page, body } = await logIn('mock')
    expect(page.response.status).toBe(200)
    const [user] = await h.env.schema.sql<
      { name: string }[]
    >`select name from users where id = ${body.user_id as string}`
    expect(user?.name).toBe('Stand In')
  })

  const now = () => Math.floor(Date.now() / 1000)
  for (const [what, tamper] of [
    ['a wrong nonce', { nonce: 'a-nonce-this-login-did-not-make' }],
    ['another issuer', { iss: 'https://accounts.evil.example' }],
    ['another audience', { aud: 'some-other-client' }],
    ['an expired token', { iat: now() - 7200, exp: now() - 3600 }],
  ] as const) {
    it(`refuses ${what}`, async () => {
      h.oidc.tamper = tamper
      h.oidc.subject = `stand-in-${what}`
      const { page } = await logIn('mock')
      h.oidc.tamper = {}
      expect(page.response.status).toBe(400)
      expect(problemType(page)).toBe('invalid-id-token')
      expect(await count(`select count(*)::int as n from identities where subject = 'stand-in-${what}'`)).toBe(0)
    })
  }

  it('refuses an ID token signed by a key the provider’s JWKS does not hold', async () => {
    h.oidc.foreignKey = true
    const { page } = await logIn('mock')
    h.oidc.foreignKey = false
    expect(page.response.status).toBe(400)
    expect(problemType(page)).toBe('invalid-id-token')
  })

  it('answers a provider that is down with 502, never 500', async () => {
    h.oidc.tokenStatus = 503
    const { page } = await logIn('mock')
    h.oidc.tokenStatus = undefined
    expect(page.response.status).toBe(502)
    expect(problemType(page)).toBe('identity-provider-unavailable')
  })
})

describe('login through GitHub (stand-in)', () => {
  it('creates the user from GET /user with the verified primary email; the second login is the same user', async () => {
    h.github.account = {
      id: 4242,
      login: 'Octo-Cat',
      name: 'Mona Lisa Octocat',
      avatar_url: 'https://avatars.example/4242',
      emails: [
        { email: 'unverified@example.test', primary: false, verified: false },
        { email: 'mona@example.test', primary: true, verified: true },
      ],
    }
    const first = await logIn('github')
    expect(first.page.response.status).toBe(200)
    expect(first.body.new_user).toBe(true)
    const [user] = await h.env.schema
      .sql`select handle, name, avatar_url from users where id = ${first.body.user_id as string}`
    expect(user).toEqual({ handle: 'octo_cat', name: 'Mona Lisa Octocat', avatar_url: 'https://avatars.example/4242' })
    const [identity] = await h.env.schema.sql`
      select subject, email, email_verified from identities where provider = 'github' and subject = '4242'`
    expect(identity).toEqual({ subject: '4242', email: 'mona@example.test', email_verified: true })

    h.github.account = { ...h.github.account, login: 'renamed', name: 'Renamed' }
    const second = await logIn('github')
    expect(second.body).toMatchObject({ user_id: first.body.user_id, new_user: false })
  })

  it('never joins accounts by email: the same verified address at another provider is another user', async () => {
    h.github.account = {
      id: 5151,
      login: 'same-mail',
      name: null,
      avatar_url: 'https://avatars.example/5151',
      emails: [{ email: 'shared@example.test', primary: true, verified: true }],
    }
    const viaGithub = await logIn('github')
    h.oidc.subject = 'same-mail-subject'
    h.oidc.claims = { ...h.oidc.claims, email: 'shared@example.test', email_verified: true }
    const viaOidc = await logIn('mock')
    expect(viaOidc.body.new_user).toBe(true)
    expect(viaOidc.body.user_id).not.toBe(viaGithub.body.user_id)
  })

  it('refuses a declined login (403), a replayed code (400) and a token endpoint that is down (502)', async () => {
    h.github.deny = true
    const denied = await logIn('github')
    h.github.deny = false
    expect(denied.page.response.status).toBe(403)
    expect(problemType(denied.page)).toBe('login-denied')

    const { browser, callback } = await logIn('github')
    const fresh = new URL(await toCallback(browser, 'github'))
    fresh.searchParams.set('code', callback.searchParams.get('code') ?? '')
    const reused = await browser.request(fresh)
    expect(reused.response.status).toBe(400)
    expect(problemType(reused)).toBe('authorization-code-rejected')

    h.github.tokenStatus = 503
    const down = await logIn('github')
    h.github.tokenStatus = undefined
    expect(down.page.response.status).toBe(502)
    expect(problemType(down.page)).toBe('identity-provider-unavailable')
  })
})

describe('linking a second provider', () => {
  const link = (provider: string, accessToken?: string, body: Record<string, string> = {}) =>
    fetch(`${h.feedUrl}/v1/auth/${provider}/link`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      },
      body: JSON.stringify(body),
    })

  /** Opens the link URL in a browser of its own and lands on the callback. */
  async function finishLink(authorizationUrl: string, login: string) {
    const browser = new Browser()
    const { stoppedAt } = await browser.browse(authorizationUrl, {
      stop: isCallback('dev'),
      fill: { login, password: 'x' },
    })
    if (!stoppedAt) throw new Error('the provider did not come back')
    return browser.request(stoppedAt)
  }

  it('links a new identity to the current user; that identity then logs in as that user', async () => {
    h.github.account = { id: 7001, login: 'linker', name: 'Linker', avatar_url: 'https://a.example/1', emails: [] }
    const owner = await logIn('github')
    const res = await link('dev', owner.body.access_token as string)
    expect(res.status).toBe(200)
    const { authorization_url } = (await res.json()) as { authorization_url: string }
    expect(new URL(authorization_url).origin).toBe(new URL(h.idp.issuer).origin)

    const linked = await finishLink(authorization_url, 'linker-at-dev')
    expect(linked.response.status).toBe(200)
    expect(json(linked)).toEqual({ user_id: owner.body.user_id, provider: 'dev', linked: true })

    const viaDev = await logIn('dev', 'linker-at-dev')
    expect(viaDev.body).toMatchObject({ user_id: owner.body.user_id, new_user: false })
  })

  it('refuses to link an identity that belongs to another user (409), and a link without a token (401)', async () => {
    const someoneElse = await logIn('dev', 'already-taken')
    h.github.account = { id: 7002, login: 'grabber', name: 'Grabber', avatar_url: 'https://a.example/2', emails: [] }
    const grabber = await logIn('github')
    const res = await link('dev', grabber.body.access_token as string)
    const { authorization_url } = (await res.json()) as { authorization_url: string }
    const refused = await finishLink(authorization_url, 'already-taken')
    expect(refused.response.status).toBe(409)
    expect(problemType(refused)).toBe('identity-linked-to-another-user')
    const [identity] = await h.env.schema.sql`
      select user_id from identities where provider = 'dev' and subject = 'already-taken'`
    expect(identity?.user_id).toBe(someoneElse.body.user_id)

    const anonymous = await link('dev')
    expect(anonymous.status).toBe(401)
    const notAllowed = await link('dev', grabber.body.access_token as string, { redirect_uri: 'https://evil.example/' })
    expect(notAllowed.status).toBe(400)
  })
})

describe('metrics', () => {
  it('counts the callbacks by provider and outcome (feed_logins_total)', async () => {
    const body = await (await fetch(`${h.feedUrl}/metrics`)).text()
    const count = (labels: string) =>
      Number(new RegExp(`^feed_logins_total\\{${labels}[^}]*\\} (\\d+)`, 'm').exec(body)?.[1] ?? 0)
    expect(count('provider="dev",outcome="first_login"')).toBeGreaterThan(0)
    expect(count('provider="dev",outcome="login"')).toBeGreaterThan(0)
    expect(count('provider="dev",outcome="linked"')).toBe(1)
    expect(count('provider="mock",outcome="invalid_id_token"')).toBe(5)
    expect(count('provider="github",outcome="identity_provider_unavailable"')).toBe(1)
    expect(count('provider="dev",outcome="identity_linked_to_another_user"')).toBe(1)
  })
})
