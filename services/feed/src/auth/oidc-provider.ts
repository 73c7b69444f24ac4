import { ProblemError } from '@platform/http'
import * as client from 'openid-client'
import { feedProblems } from '../problems.js'
import {
  avatarOf,
  cleanText,
  type ExternalProfile,
  type IdentityProvider,
  type ProviderDeps,
  providerOAuthError,
  providerUnavailable,
} from './identity-providers.js'
import type { OidcProviderConfig } from './providers-config.js'

/**
 * Any OpenID Connect provider (Google, Keycloak, Auth0, Okta, the development IdP) through openid-client v6: the
 * authorization code flow with PKCE S256 (RFC 7636), `state` and `nonce` (OIDC Core §3.1.2.1). The ID token is
 * checked by openid-client: issuer, audience (and azp), nonce, exp/iat, and, with enableNonRepudiationChecks, its
 * signature against the provider's JWKS (without it openid-client trusts the TLS channel, OIDC Core §3.1.3.7).
 *
 * Discovery (<issuer>/.well-known/openid-configuration) happens at the first login, not at start, so a provider
 * that is down does not stop the feed; a failed discovery is tried again by the next login.
 */
const ID_TOKEN_CODES = new Set<string | undefined>([
  'OAUTH_JWT_CLAIM_COMPARISON_FAILED', // iss, aud, azp, nonce
  'OAUTH_JWT_TIMESTAMP_CHECK_FAILED', // exp, iat, auth_time
  'OAUTH_KEY_SELECTION_FAILED', // no key of the JWKS fits the token's kid/alg
])

/** Every failure of a login's exchange as the feed's problem: 4xx for the permanent ones, 502 for the provider's. */
export function oidcProblem(provider: string, error: unknown): ProblemError {
  if (error instanceof ProblemError) return error
  if (error instanceof client.AuthorizationResponseError) return providerOAuthError(provider, error.error, error)
  if (error instanceof client.ResponseBodyError) {
    return error.status >= 500 ? providerUnavailable(provider, error) : providerOAuthError(provider, error.error, error)
  }
  if (error instanceof client.ClientError) {
    const causeMessage = (error.cause as Error | undefined)?.message ?? ''
    const idToken =
      ID_TOKEN_CODES.has(error.code) ||
      (error.code === 'OAUTH_INVALID_RESPONSE' && /JWT|ID Token|signature/i.test(causeMessage))
    if (idToken) {
      return new ProblemError(feedProblems.invalidIdToken, {
        detail: `The ID token from "${provider}" failed its checks; log in again.`,
        extensions: { provider },
        code: error.code,
        cause: error,
      })
    }
    if (error.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
      // The authorization response's `iss` names another issuer (RFC 9207: a mix-up attack, or a misconfiguration).
      return providerOAuthError(provider, 'issuer_mismatch', error)
    }
  }
  // Network failures, timeouts, non-JSON or unexpected statuses: the provider's trouble, not the person's.
  return providerUnavailable(provider, error)
}

export function createOidcProvider(config: OidcProviderConfig, deps: ProviderDeps): IdentityProvider {
  const timeout = Math.max(1, Math.ceil(deps.timeoutMs / 1000))
  let discovered: Promise<client.Configuration> | undefined

  async function discover(): Promise<client.Configuration> {
    const insecure = config.issuer.protocol === 'http:' && !deps.production
    const configuration = await client.discovery(
      config.issuer,
      config.clientId,
      { client_secret: config.clientSecret },
      client.ClientSecretPost(config.clientSecret),
      {
        execute: [...(insecure ? [client.allowInsecureRequests] : []), client.enableNonRepudiationChecks],
        timeout,
      },
    )
    deps.logger.info(
      { provider: config.name, issuer: configuration.serverMetadata().issuer },
      'OIDC provider discovered',
    )
    return configuration
  }

  /** The discovered configuration, once; a failure is forgotten so the next login tries again. */
  function configuration(): Promise<client.Configuration> {
    discovered ??= discover().catch((error: unknown) => {
      discovered = undefined
      const problem = providerUnavailable(config.name, error)
      deps.logger.warn({ provider: config.name, err: problem.cause }, 'OIDC discovery failed')
      throw problem
    })
    return discovered
  }

  return {
    name: config.name,
    kind: 'oidc',
    usesNonce: true,

    async authorizationUrl({ state, nonce, codeVerifier, callbackUrl }) {
      const server = await configuration()
      return client.buildAuthorizationUrl(server, {
        redirect_uri: callbackUrl,
        scope: config.scopes.join(' '),
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      })
    },

    async complete(callbackUrl, saved) {
      const server = await configuration()
      try {
        const tokens = await client.authorizationCodeGrant(server, callbackUrl, {
          pkceCodeVerifier: saved.codeVerifier,
          expectedState: saved.state,
          expectedNonce: saved.nonce ?? client.randomNonce(),
          idTokenExpected: true,
        })
        const claims = tokens.claims()
        if (!claims) throw providerOAuthError(config.name, 'missing_id_token')
        let profile: Record<string, unknown> = claims
        // Providers that follow OIDC Core §5.4 strictly put profile claims in the UserInfo response only.
        const userinfo = server.serverMetadata().userinfo_endpoint
        if (userinfo && (claims.name === undefined || claims.email === undefined)) {
          profile = { ...(await client.fetchUserInfo(server, tokens.access_token, claims.sub)), ...claims }
        }
        return profileOf(claims.sub, profile)
      } catch (error) {
        throw oidcProblem(config.name, error)
      }
    },
  }
}

/** OIDC standard claims (OIDC Core §5.1) as the feed's profile. */
export function profileOf(subject: string, claims: Record<string, unknown>): ExternalProfile {
  const email = cleanText(claims.email, 320)
  const fullName = [cleanText(claims.given_name, 50), cleanText(claims.family_name, 50)].filter(Boolean).join(' ')
  const handle =
    cleanText(claims.preferred_username, 64) ??
    cleanText(claims.nickname, 64) ??
    (email ? email.split('@')[0] : null) ??
    cleanText(claims.name, 64) ??
    'user'
  return {
    subject,
    name: cleanText(claims.name, 100) ?? (fullName || handle),
    handle,
    avatarUrl: avatarOf(claims.picture),
    email,
    emailVerified: email !== null && claims.email_verified === true,
  }
}
