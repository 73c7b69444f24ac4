import { createHash } from 'node:crypto'
import type { ServiceRuntime } from '@platform/service'

type Redis = ServiceRuntime<true>['redis']

/**
 * What a started login must find again at its callback, kept server-side in Redis under its `state` (RFC 6749
 * §10.12, RFC 9700 §4.7.1) for FEED_AUTH_LOGIN_TTL_S: the PKCE verifier and the nonce never leave the server, and
 * `take` reads and deletes in one command (GETDEL), so a state, and with it an authorization code, is used once:
 * a replayed callback finds nothing. Keys hold a hash of the state, not the state itself.
 */
export interface LoginState {
  provider: string
  /** RFC 7636: sent to the token endpoint; only its S256 challenge went to the provider. */
  codeVerifier: string
  /** OIDC Core §3.1.2.1: the ID token must carry it back. Absent for GitHub (no ID token). */
  nonce?: string
  /** The client's redirect_uri (already on the allow-list); absent: the callback answers JSON. */
  redirectUri?: string
  /** Set by the link call: the callback adds the identity to this user instead of logging in. */
  linkUserId?: string
  /** SHA-256 of the login cookie of the browser that started the login (login-routes.ts); absent for a link. */
  browserHash?: string
  startedAt: number
}

export interface LoginStates {
  save(state: string, value: LoginState): Promise<void>
  /** The state's login, removed; undefined when unknown, expired or already taken. */
  take(state: string): Promise<LoginState | undefined>
}

export const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url')

export function createLoginStates(redis: Redis, ttlSeconds: number): LoginStates {
  // Under the client's keyPrefix (REDIS_PREFIX), like every key of the service.
  const keyOf = (state: string) => `feed:auth:login:${sha256(state)}`
  return {
    async save(state, value) {
      await redis.set(keyOf(state), JSON.stringify(value), 'EX', ttlSeconds)
    },
    async take(state) {
      const text = await redis.getdel(keyOf(state))
      return text === null ? undefined : (JSON.parse(text) as LoginState)
    },
  }
}
