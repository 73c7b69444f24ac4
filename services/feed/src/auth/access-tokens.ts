import { randomUUID } from 'node:crypto'
import { errors, type JSONWebKeySet, type JWTHeaderParameters, jwtVerify, SignJWT } from 'jose'
import type { SigningKeys } from './signing-keys.js'

/**
 * The feed's access tokens: JWTs it signs itself with an asymmetric key (signing-keys.ts), in the JWT profile for
 * OAuth 2.0 access tokens (RFC 9068): header `typ: at+jwt` and `kid`; claims iss, aud, sub (the user id), iat, exp,
 * jti, sid (the session, i.e. the refresh-token family, refresh-tokens.ts). Short-lived (FEED_ACCESS_TOKEN_TTL_S,
 * 15 minutes by default); a revoked session's tokens are refused at once by authenticate (revoked-sessions.ts).
 *
 * Verification accepts exactly one algorithm (the configured one), the configured issuer and audience, and a kid
 * this service holds. That refuses the classic forgeries (https://www.rfc-editor.org/rfc/rfc8725#section-2.1):
 * `alg: none`, an HS256 token made with the public key as its secret, a token signed by a foreign key or with an
 * unknown kid; and tokens of the right key meant for something else (an ID token has no `typ: at+jwt`).
 */
export const ACCESS_TOKEN_TYPE = 'at+jwt'
/** Clock skew allowed between instances for exp, nbf and iat (RFC 8725 §3.10 leaves it to the application). */
export const CLOCK_TOLERANCE_S = 5

export interface AccessTokenOptions {
  keys: SigningKeys
  issuer: string
  audience: string
  ttlSeconds: number
}

export interface AccessClaims {
  userId: string
  sessionId: string
  jti: string
  expiresAt: Date
}

export interface IssuedAccessToken {
  token: string
  jti: string
  expiresIn: number
}

/** A token that fails any check; the reason stays on the server (a log line, a metric label), never in the answer. */
export class InvalidTokenError extends Error {
  readonly code = 'FEED_INVALID_TOKEN'
  constructor(readonly reason: string) {
    super(`invalid access token: ${reason}`)
    this.name = 'InvalidTokenError'
  }
}

export interface AccessTokens {
  issue(subject: { userId: string; sessionId: string }, now?: Date): Promise<IssuedAccessToken>
  /** Throws InvalidTokenError for every token this service did not issue, or no longer accepts. */
  verify(token: string): Promise<AccessClaims>
  /** The public keys, for GET /.well-known/jwks.json (RFC 7517 §5). */
  jwks(): JSONWebKeySet
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'expired'
  if (error instanceof errors.JWTClaimValidationFailed) return `claim ${error.claim}: ${error.reason}`
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed'
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature'
  if (error instanceof InvalidTokenError) return error.reason
  if (error instanceof errors.JOSEError) return error.code
  return 'malformed'
}

/**
 * Tokens verified by this process, by their exact text, at most this many (the oldest goes first; ~6 MB). A token
 * seen again is not verified again: its signature and claims are the same bytes, so the answer is the same, except
 * for time, and its expiry is checked on every use. A client sends its token on every request for 15 minutes, and
 * the signature check (EdDSA) was a sixth of the personal feed's CPU (docs/performance.md#feed). Refusals are not
 * kept. Revocation is not the signature's business: `authenticate` asks revoked-sessions on every request.
 */
const VERIFIED_TOKENS = 10_000

export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { keys, issuer, audience, ttlSeconds } = options
  const verified = new Map<string, AccessClaims>()
  const jwks: JSONWebKeySet = { keys: [...keys.byKid.values()].map((k) => k.publicJwk) }
  const keyFor = (header: JWTHeaderParameters) => {
    const key = header.kid === undefined ? undefined : keys.byKid.get(header.kid)
    if (!key) throw new InvalidTokenError('unknown kid')
    return key.publicKey
  }

  return {
    async issue({ userId, sessionId }, now = new Date()) {
      const jti = randomUUID()
      const iat = Math.floor(now.getTime() / 1000)
      const token = await new SignJWT({ sid: sessionId })
        .setProtectedHeader({ alg: keys.algorithm, kid: keys.active.kid, typ: ACCESS_TOKEN_TYPE })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(userId)
        .setJti(jti)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .sign(keys.active.privateKey)
      return { token, jti, expiresIn: ttlSeconds }
    },

    async verify(token) {
      const known = verified.get(token)
      if (known) {
        if (known.expiresAt.getTime() + CLOCK_TOLERANCE_S * 1000 > Date.now()) return known
        verified.delete(token)
        throw new InvalidTokenError('expired')
      }
      const claims = await verifyToken(token)
      verified.set(token, claims)
      if (verified.size > VERIFIED_TOKENS) verified.delete(verified.keys().next().value as string)
      return claims
    },

    jwks: () => jwks,
  }

  async function verifyToken(token: string): Promise<AccessClaims> {
    try {
      const { payload } = await jwtVerify(token, keyFor, {
        algorithms: [keys.algorithm],
        issuer,
        audience,
        typ: ACCESS_TOKEN_TYPE,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp'],
      })
      if (typeof payload.sid !== 'string' || typeof payload.sub !== 'string' || typeof payload.jti !== 'string') {
        throw new InvalidTokenError('claims of the wrong type')
      }
      // jose checks iat only against a maximum age; a token issued in the future is not yet valid either.
      if ((payload.iat as number) > Date.now() / 1000 + CLOCK_TOLERANCE_S)
        throw new InvalidTokenError('iat in the future')
      return Object.freeze({
        userId: payload.sub,
        sessionId: payload.sid,
        jti: payload.jti,
        expiresAt: new Date((payload.exp as number) * 1000),
      })
    } catch (error) {
      throw error instanceof InvalidTokenError ? error : new InvalidTokenError(reasonOf(error))
    }
  }
}
