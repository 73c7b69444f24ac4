import { readFileSync } from 'node:fs'
import { ConfigError } from '@platform/config'
import { describe, expect, it } from 'vitest'
import { parseClientRedirects } from '../src/auth/client-redirects.js'
import { DEFAULT_PROVIDERS_FILE, loadProviders, parseProviders } from '../src/auth/providers-config.js'
import { DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_IDP_DEFAULT_URL } from '../src/dev-idp/dev-idp.js'

/** The providers document and the redirect allow-list are checked at start; a bad entry is named in one line. */
const SECRET = 'super-secret-value-0123456789'
const env = { GOOGLE_SECRET: SECRET, GH_SECRET: SECRET }
const google = {
  name: 'google',
  kind: 'oidc',
  issuer: 'https://accounts.google.com',
  clientId: 'id.apps.googleusercontent.com',
  clientSecretEnv: 'GOOGLE_SECRET',
}
const github = { name: 'github', kind: 'github', clientId: 'Iv1.abc', clientSecretEnv: 'GH_SECRET' }
const source = { variable: 'FEED_AUTH_PROVIDERS_FILE', origin: 'providers.json' }
const parse = (providers: unknown[], options: { production?: boolean; env?: NodeJS.ProcessEnv } = {}) =>
  parseProviders(JSON.stringify({ providers }), source, { env: options.env ?? env, production: !!options.production })

function problemOf(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    const message = (error as ConfigError).message
    expect(message).not.toContain(SECRET)
    expect(message.trim().split('\n')).toHaveLength(2) // "invalid configuration:" and the one problem
    return message
  }
  throw new Error('expected a ConfigError')
}

describe('identity providers document', () => {
  it('the checked-in default names only the development IdP, with the dev IdP’s own client', () => {
    const providers = loadProviders(
      { FEED_AUTH_PROVIDERS_FILE: DEFAULT_PROVIDERS_FILE },
      { env: {}, production: false },
    )
    expect([...providers.keys()]).toEqual(['dev'])
    expect(providers.get('dev')).toMatchObject({
      kind: 'oidc',
      development: true,
      clientId: DEV_CLIENT_ID,
      clientSecret: DEV_CLIENT_SECRET,
      scopes: ['openid', 'profile', 'email'],
    })
    expect((providers.get('dev') as { issuer: URL }).issuer.origin).toBe(DEV_IDP_DEFAULT_URL)
    const moved = loadProviders(
      { FEED_AUTH_PROVIDERS_FILE: DEFAULT_PROVIDERS_FILE },
      { env: {}, production: false, devIdpUrl: 'http://127.0.0.1:4242' },
    )
    expect((moved.get('dev') as { issuer: URL }).issuer.href).toBe('http://127.0.0.1:4242/')
  })

  it('reads secrets from the variables it names and fills the defaults', () => {
    const providers = parse([google, github])
    expect(providers.get('google')).toMatchObject({
      clientSecret: SECRET,
      scopes: ['openid', 'profile', 'email'],
      label: 'google',
      development: false,
    })
    const gh = providers.get('github') as { authorizeUrl: URL; tokenUrl: URL; apiBaseUrl: URL; scopes: string[] }
    expect(gh.authorizeUrl.href).toBe('https://github.com/login/oauth/authorize')
    expect(gh.tokenUrl.href).toBe('https://github.com/login/oauth/access_token')
    expect(gh.apiBaseUrl.href).toBe('https://api.github.com/')
    expect(gh.scopes).toEqual(['read:user', 'user:email'])
  })

  it('inline JSON (FEED_AUTH_PROVIDERS) replaces the file and is named as such in errors', () => {
    const inline = { FEED_AUTH_PROVIDERS: JSON.stringify({ providers: [google] }), FEED_AUTH_PROVIDERS_FILE: '/nope' }
    expect([...loadProviders(inline, { env, production: false }).keys()]).toEqual(['google'])
    const bad = { FEED_AUTH_PROVIDERS: '{"providers":[]}', FEED_AUTH_PROVIDERS_FILE: '/nope' }
    expect(problemOf(() => loadProviders(bad, { env, production: false }))).toMatch(/FEED_AUTH_PROVIDERS: inline JSON/)
  })

  it('names the entry and the problem, never a secret', () => {
    const cases: [unknown[], RegExp][] = [
      [[{ ...google, kind: 'saml' }], /\/providers\/0 \("google"\)\/kind must be "oidc" or "github"/],
      [[{ ...google, clientId: undefined }], /\/providers\/0 \("google"\) must have required properties clientId/],
      [[{ ...google, clientsecret: SECRET }], /\/providers\/0 \("google"\)\/clientsecret is not a member of this kind/],
      [[{ ...github, issuer: 'https://x' }], /\/providers\/0 \("github"\)\/issuer is not a member of this kind/],
      [[{ ...google, name: 'Google!' }], /\/providers\/0 \("Google!"\)\/name must match pattern/],
      [[{ ...google, clientSecret: SECRET }], /has both clientSecret and clientSecretEnv/],
      [[{ ...google, clientSecretEnv: 'UNSET_SECRET' }], /\/clientSecretEnv: the variable UNSET_SECRET is not set/],
      [[google, github, { ...google }], /\/providers\/2 \("google"\)\/name "google" appears twice/],
      [[{ ...google, issuer: 'accounts.google.com' }], /\/issuer is not an absolute URL/],
      [[{ ...google, issuer: 'ftp://accounts.google.com' }], /\/issuer must be an https URL/],
      [[{ ...google, scopes: ['profile'] }], /\/scopes must include "openid"/],
      [[{ ...github, tokenUrl: 'https://user:pw@github.com/x' }], /\/tokenUrl must hold no credentials/],
      [[{ ...github, clientSecretEnv: undefined }], /needs clientSecretEnv/],
      [[], /\/providers must be a list of at least one provider/],
    ]
    for (const [providers, expected] of cases) {
      expect(
        problemOf(() => parse(providers)),
        String(expected),
      ).toMatch(expected)
    }
    expect(problemOf(() => parseProviders('{', source, { env, production: false }))).toMatch(
      /providers\.json: is not valid JSON/,
    )
    expect(
      problemOf(() => loadProviders({ FEED_AUTH_PROVIDERS_FILE: '/nonexistent.json' }, { env, production: false })),
    ).toMatch(/FEED_AUTH_PROVIDERS_FILE: \/nonexistent\.json: cannot be read \(ENOENT\)/)
  })

  it('production refuses the development IdP, inline secrets and plain http', () => {
    const dev = JSON.parse(readFileSync(DEFAULT_PROVIDERS_FILE, 'utf8')).providers[0]
    expect(problemOf(() => parse([dev], { production: true }))).toMatch(
      /\/providers\/0 \("dev"\) is the development identity provider .*production must name real providers/,
    )
    expect(
      problemOf(() => parse([{ ...github, clientSecretEnv: undefined, clientSecret: SECRET }], { production: true })),
    ).toMatch(/\/clientSecret is refused in production/)
    expect(problemOf(() => parse([{ ...google, issuer: 'http://idp.internal' }], { production: true }))).toMatch(
      /\/issuer must be https in production/,
    )
    expect([...parse([google, github], { production: true }).keys()]).toEqual(['google', 'github'])
  })
})

describe('client redirect allow-list', () => {
  const list = parseClientRedirects('https://app.example/auth/done, com.example.app:/oauth  http://127.0.0.1:5173/cb', {
    production: false,
  })

  it('matches scheme, host, port and path exactly; the client’s own query may differ', () => {
    expect(list.size).toBe(3)
    expect(list.match('https://app.example/auth/done')?.href).toBe('https://app.example/auth/done')
    expect(list.match('https://app.example/auth/done?next=%2Ffeed')?.search).toBe('?next=%2Ffeed')
    expect(list.match('https://APP.example:443/auth/done')?.href).toBe('https://app.example/auth/done')
    expect(list.match('com.example.app:/oauth')).toBeDefined()
    expect(list.match('http://127.0.0.1:5173/cb')).toBeDefined()
  })

  it('refuses everything else: other hosts, ports, paths, prefixes, fragments, credentials, schemes', () => {
    for (const uri of [
      'https://app.example/auth/done/',
      'https://app.example/auth/don',
      'https://app.example/auth/done/../../evil',
      'https://app.example/auth/done#x',
      'https://app.example.evil.example/auth/done',
      'https://evil.example@app.example/auth/done',
      'http://app.example/auth/done',
      'https://app.example:8443/auth/done',
      'http://127.0.0.1:5174/cb',
      'com.example.evil:/oauth',
      'javascript:alert(1)//https://app.example/auth/done',
      '/auth/done',
      '',
    ]) {
      expect(list.match(uri), uri).toBeUndefined()
    }
    expect(parseClientRedirects('', { production: false }).match('https://app.example/auth/done')).toBeUndefined()
  })

  it('refuses entries that would weaken it, naming the entry', () => {
    const problem = (value: string, production = false) => {
      try {
        parseClientRedirects(value, { production })
      } catch (error) {
        return (error as ConfigError).message
      }
      return 'accepted'
    }
    expect(problem('https://a.example/cb?x=1')).toMatch(/FEED_AUTH_REDIRECT_ALLOWLIST: entry 1 .* has a query/)
    expect(problem('https://a.example/cb, https://a.example/cb#f')).toMatch(/entry 2 .* fragment/)
    expect(problem('javascript:alert(1)')).toMatch(/scheme that is never a redirect target/)
    expect(problem('not a url')).toMatch(/is not an absolute URL/)
    expect(problem('http://app.example/cb', true)).toMatch(/production needs https/)
    expect(problem('http://127.0.0.1:5173/cb', true)).toBe('accepted')
  })
})
