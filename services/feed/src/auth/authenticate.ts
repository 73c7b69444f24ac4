import { ProblemError } from '@platform/http'
import type { FastifyRequest } from 'fastify'
import { feedProblems } from '../problems.js'
import { type AccessClaims, type AccessTokens, InvalidTokenError } from './access-tokens.js'
import type { RevokedSessions } from './revoked-sessions.js'

/**
 * Bearer authentication of the feed's API (RFC 6750): `Authorization: Bearer <access token>`. A route that needs a
 * user adds `preHandler: authenticate` and reads `authOf(request)`. Both refusals are 401 problem+json with the
 * challenge RFC 6750 §3 asks for: no token gets `WWW-Authenticate: Bearer realm="feed"` (no error code, §3.1), a
 * bad one `error="invalid_token"`. Which check failed is logged, not answered.
 */
declare module 'fastify' {
  interface FastifyRequest {
    /** The verified access token's claims, set by `authenticate`. */
    auth?: AccessClaims
  }
}

export const REALM = 'feed'
/** The OpenAPI security requirement of a route behind `authenticate` (the scheme is named in the app factory). */
export const BEARER_SECURITY = [{ bearerAuth: [] }]

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i

export const authenticationRequired = () =>
  new ProblemError(feedProblems.authenticationRequired, {
    detail: 'Send an access token: Authorization: Bearer <token>.',
    headers: { 'www-authenticate': `Bearer realm="${REALM}"` },
  })

export const invalidToken = (detail = 'The access token is invalid or expired; refresh it or log in again.') =>
  new ProblemError(feedProblems.invalidToken, {
    detail,
    headers: { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token"` },
  })

/**
 * The preHandler of every route that needs a user. Typed on the request alone, so it fits the routes of any
 * instance (the ServiceApp's TypeBox provider and logger included) and can be called from a handler too.
 */
export type Authenticate = (request: FastifyRequest) => Promise<void>

export function createAuthenticate(tokens: AccessTokens, revoked?: RevokedSessions): Authenticate {
  return async function authenticate(request) {
    const header = request.headers.authorization
    if (header === undefined || header === '') throw authenticationRequired()
    const match = BEARER.exec(header)
    if (!match) throw invalidToken('The Authorization header must be "Bearer <token>".')
    try {
      const claims = await tokens.verify(match[1] as string)
      // A session revoked since the token was issued (logout, reuse detection): revoked-sessions.ts.
      if (revoked && (await revoked.isRevoked(claims.sessionId))) throw new InvalidTokenError('session revoked')
      request.auth = claims
    } catch (error) {
      if (!(error instanceof InvalidTokenError)) throw error
      request.log.info({ reason: error.reason }, 'access token refused')
      throw invalidToken()
    }
  }
}

/** The authenticated user of a route behind `authenticate`. */
export function authOf(request: FastifyRequest): AccessClaims {
  if (!request.auth) throw new Error('authOf: the route has no authenticate preHandler')
  return request.auth
}
