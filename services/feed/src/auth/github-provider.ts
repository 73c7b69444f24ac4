import {
  avatarOf,
  cleanText,
  type IdentityProvider,
  type ProviderDeps,
  providerOAuthError,
  providerUnavailable,
} from './identity-providers.js'
import type { GithubProviderConfig } from './providers-config.js'

/**
 * GitHub's OAuth apps: OAuth 2.0 authorization code with `state`, no OIDC (no ID token, no nonce)
 * (https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps). The account is
 * `GET /user` (its numeric `id` is the subject: logins can be renamed, ids never change) and the email a verified
 * primary one from `GET /user/emails` (https://docs.github.com/en/rest/users/emails), when the scope allows it.
 *
 * GitHub answers a bad or used code with 200 and `{"error":"bad_verification_code"}`, not 400: both are read.
 */
const API_HEADERS = {
  accept: 'application/vnd.github+json',
  'x-github-api-version': '2022-11-28',
  // GitHub refuses API requests without a User-Agent.
  'user-agent': 'event-platform-feed',
}

interface GithubUser {
  id?: unknown
  login?: unknown
  name?: unknown
  avatar_url?: unknown
}

interface GithubEmail {
  email?: unknown
  primary?: unknown
  verified?: unknown
}

export function createGithubProvider(config: GithubProviderConfig, deps: ProviderDeps): IdentityProvider {
  const api = (path: string) => new URL(path.replace(/^\//, ''), `${config.apiBaseUrl.href.replace(/\/?$/, '/')}`)

  /** A call to GitHub: any network failure or timeout is the provider's (502). */
  async function call(url: URL, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(deps.timeoutMs) })
    } catch (error) {
      throw providerUnavailable(config.name, error)
    }
  }

  async function json<T>(response: Response): Promise<T> {
    try {
      return (await response.json()) as T
    } catch (error) {
      throw providerUnavailable(config.name, error)
    }
  }

  async function exchange(code: string, callbackUrl: string): Promise<string> {
    const response = await call(config.tokenUrl, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: config.clientId,
        client_secret: config.clientSecret,
        code,
        redirect_uri: callbackUrl,
      }),
    })
    if (response.status >= 500) {
      await response.body?.cancel()
      throw providerUnavailable(config.name, new Error(`token endpoint answered ${response.status}`))
    }
    const body = await json<{ access_token?: unknown; error?: unknown }>(response)
    if (typeof body.error === 'string') throw providerOAuthError(config.name, body.error)
    if (!response.ok || typeof body.access_token !== 'string' || body.access_token === '') {
      throw providerUnavailable(config.name, new Error(`token endpoint answered ${response.status} without a token`))
    }
    return body.access_token
  }

  async function user(accessToken: string): Promise<GithubUser> {
    const response = await call(api('/user'), { headers: { ...API_HEADERS, authorization: `Bearer ${accessToken}` } })
    if (!response.ok) {
      await response.body?.cancel()
      // A token GitHub just issued and now refuses, or a 5xx: either way not the person's doing.
      throw providerUnavailable(config.name, new Error(`GET /user answered ${response.status}`))
    }
    return json<GithubUser>(response)
  }

  /** The verified primary address, or none (the scope may not include user:email; that is no reason to fail). */
  async function primaryEmail(accessToken: string): Promise<string | null> {
    const response = await call(api('/user/emails'), {
      headers: { ...API_HEADERS, authorization: `Bearer ${accessToken}` },
    })
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      await response.body?.cancel()
      return null
    }
    if (!response.ok) {
      await response.body?.cancel()
      throw providerUnavailable(config.name, new Error(`GET /user/emails answered ${response.status}`))
    }
    const emails = await json<GithubEmail[]>(response)
    const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && e.verified === true) : undefined
    return cleanText(primary?.email, 320)
  }

  return {
    name: config.name,
    kind: 'github',
    usesNonce: false,

    async authorizationUrl({ state, callbackUrl }) {
      const url = new URL(config.authorizeUrl)
      url.searchParams.set('client_id', config.clientId)
      url.searchParams.set('redirect_uri', callbackUrl)
      url.searchParams.set('scope', config.scopes.join(' '))
      url.searchParams.set('state', state)
      return url
    },

    async complete(callbackUrl) {
      const params = callbackUrl.searchParams
      const error = params.get('error')
      if (error !== null) throw providerOAuthError(config.name, error)
      const code = params.get('code')
      if (code === null || code === '') throw providerOAuthError(config.name, 'invalid_request')
      const accessToken = await exchange(code, `${callbackUrl.origin}${callbackUrl.pathname}`)
      const [account, email] = await Promise.all([user(accessToken), primaryEmail(accessToken)])
      const id = typeof account.id === 'number' || typeof account.id === 'string' ? String(account.id) : ''
      if (!/^[0-9]{1,20}$/.test(id)) {
        throw providerUnavailable(config.name, new Error('GET /user answered without a numeric id'))
      }
      const login = cleanText(account.login, 64) ?? `github_${id}`
      return {
        subject: id,
        name: cleanText(account.name, 100) ?? login,
        handle: login,
        avatarUrl: avatarOf(account.avatar_url),
        email,
        emailVerified: email !== null,
      }
    },
  }
}
