import { ProblemError } from '@platform/http'
import type { Logger } from '@platform/logging'
import { feedProblems } from '../problems.js'
import { createGithubProvider } from './github-provider.js'
import type { LoginState } from './login-state.js'
import { createOidcProvider } from './oidc-provider.js'
import type { ProviderConfig } from './providers-config.js'

/**
 * One configured identity provider, whatever its protocol: where to send the browser, and what to make of the
 * callback. Each kind (oidc-provider.ts, github-provider.ts) turns every failure into a ProblemError of the feed's
 * catalog, a 4xx for what retrying will not fix and a 502 for a provider that is down or answers nonsense, so the
 * login routes never answer a provider's trouble with a 500.
 */
export interface ExternalProfile {
  /** The provider's stable id of the account (`sub`, GitHub's numeric id): with the provider name, the identity. */
  subject: string
  name: string
  /** The wanted handle (users-repository.ts makes it valid and unique). */
  handle: string
  avatarUrl: string | null
  email: string | null
  emailVerified: boolean
}

export interface AuthorizationRequest {
  state: string
  codeVerifier: string
  nonce: string
  /** The feed's own callback URL of this provider, as registered there. */
  callbackUrl: string
}

export interface IdentityProvider {
  readonly name: string
  readonly kind: ProviderConfig['kind']
  /** Whether the authorization request carries a nonce to check in the ID token. */
  readonly usesNonce: boolean
  authorizationUrl(request: AuthorizationRequest): Promise<URL>
  /**
   * The account behind an authorization response: `callbackUrl` is the public callback URL with the query the
   * provider sent, `saved` the login it belongs to (its state already checked and consumed).
   */
  complete(callbackUrl: URL, saved: LoginState & { state: string }): Promise<ExternalProfile>
}

export interface ProviderDeps {
  logger: Logger
  timeoutMs: number
  /** Plain-http providers are accepted outside production (the development IdP, tests' stand-ins). */
  production: boolean
}

export function createIdentityProviders(
  configs: Map<string, ProviderConfig>,
  deps: ProviderDeps,
): Map<string, IdentityProvider> {
  const providers = new Map<string, IdentityProvider>()
  for (const [name, config] of configs) {
    providers.set(name, config.kind === 'oidc' ? createOidcProvider(config, deps) : createGithubProvider(config, deps))
  }
  return providers
}

/**
 * What is logged of a provider failure: names, codes, statuses and messages along the cause chain, never the
 * objects openid-client attaches (a token response, which holds tokens; a Response).
 */
function safeCause(error: unknown, depth = 0): Error {
  const e = (error ?? {}) as { name?: unknown; message?: unknown; code?: unknown; status?: unknown; cause?: unknown }
  const safe = new Error(typeof e.message === 'string' ? e.message : String(error)) as Error & Record<string, unknown>
  safe.name = typeof e.name === 'string' ? e.name : 'Error'
  if (typeof e.code === 'string') safe.code = e.code
  if (typeof e.status === 'number') safe.status = e.status
  if (e.cause instanceof Error && depth < 3) safe.cause = safeCause(e.cause, depth + 1)
  return safe
}

/** A provider that cannot be reached or answers with a 5xx or nonsense: 502, worth a retry (logged with its cause). */
export function providerUnavailable(provider: string, cause: unknown): ProblemError {
  return new ProblemError(feedProblems.identityProviderUnavailable, {
    detail: `The identity provider "${provider}" could not be reached or failed; try again in a moment.`,
    extensions: { provider },
    code: 'FEED_PROVIDER_UNAVAILABLE',
    cause: safeCause(cause),
  })
}

/** An OAuth error the provider returned for this login (RFC 6749 §4.1.2.1, §5.2). */
export function providerOAuthError(provider: string, error: string, cause?: unknown): ProblemError {
  const code = /^[\x20-\x7e]{1,64}$/.test(error) && !/["\\]/.test(error) ? error : 'invalid_error_code'
  if (code === 'access_denied') {
    return new ProblemError(feedProblems.loginDenied, {
      detail: `The login was declined at "${provider}".`,
      extensions: { provider, provider_error: code },
      cause,
    })
  }
  if (code === 'invalid_grant' || code === 'bad_verification_code') {
    return new ProblemError(feedProblems.authorizationCodeRejected, {
      detail: `"${provider}" refused the authorization code (already used, expired, or not issued for this login); log in again.`,
      extensions: { provider, provider_error: code },
      cause,
    })
  }
  return new ProblemError(feedProblems.identityProviderError, {
    detail: `"${provider}" refused the login with the error "${code}".`,
    extensions: { provider, provider_error: code },
    cause,
  })
}

/** An avatar the users table and a browser accept: http(s), at most 2048 characters. */
export function avatarOf(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2048) return null
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null
  } catch {
    return null
  }
}

/** Provider strings go into text columns: no NUL or other control characters, bounded. */
export function cleanText(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const text = value.replace(/[\u0000-\u001f\u007f]/g, '').trim()
  return text === '' ? null : text.slice(0, max)
}
