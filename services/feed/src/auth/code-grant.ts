import { createHash } from 'node:crypto'
import { sameSecret } from '@platform/http'
import { type LoginDeps, logIn } from './login.js'
import { invalidGrant, type TokenResponse } from './sessions.js'

/**
 * POST /v1/auth/token with grant_type=authorization_code (RFC 6749 §4.1.3): the feed's own authorization code,
 * which a login callback with redirect_uri hands the client instead of tokens (login.ts), exchanged for the token
 * response. The code works once (GETDEL: a failed attempt spends it too), within AUTHORIZATION_CODE_TTL_S, with
 * the redirect_uri of its login (RFC 6749 §4.1.3) and the code_verifier whose S256 is the login's code_challenge
 * (RFC 7636 §4.6, compared in constant time). So a code that reaches another app (a private-use scheme any app
 * can register, a log, a Referer) gives it nothing. The login itself (find or create the user, its events, the
 * session) happens here, in one transaction.
 */
export interface CodeExchange {
  code: string
  codeVerifier: string
  redirectUri: string
}

export type CodeGrantResponse = TokenResponse & { user_id: string; new_user: boolean }
export type ExchangeCode = (input: CodeExchange) => Promise<CodeGrantResponse>

/** RFC 7636 §4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

function normalised(uri: string): string | undefined {
  try {
    return new URL(uri).href
  } catch {
    return undefined
  }
}

export async function exchangeCode(
  deps: Pick<LoginDeps, 'sql' | 'users' | 'identities' | 'sessions' | 'eventLog' | 'authorizationCodes'>,
  input: CodeExchange,
): Promise<CodeGrantResponse> {
  const pending = await deps.authorizationCodes.take(input.code)
  if (!pending) throw invalidGrant('The authorization code is invalid, expired or already used; log in again.')
  if (normalised(input.redirectUri) !== pending.redirectUri) {
    throw invalidGrant('redirect_uri is not the one the login was started with.')
  }
  const challenge = VERIFIER.test(input.codeVerifier)
    ? createHash('sha256').update(input.codeVerifier).digest('base64url')
    : ''
  if (!sameSecret(challenge, pending.codeChallenge)) {
    throw invalidGrant('code_verifier does not match the code_challenge of the login.')
  }
  const { user, created, tokens } = await logIn(deps, pending.provider, pending.profile, pending)
  return { ...tokens, user_id: user.id, new_user: created }
}
