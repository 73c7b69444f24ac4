import { createHash, randomBytes } from 'node:crypto'
import { Type } from '@platform/config'
import { inTransaction, type Queryable, type Sql } from '@platform/db'
import { ProblemError } from '@platform/http'
import type { Logger } from '@platform/logging'
import { counter, type Registry } from '@platform/metrics'
import { v7 as uuidv7 } from 'uuid'
import { feedProblems } from '../problems.js'
import type { AccessTokens } from './access-tokens.js'
import type { RevokedSessions } from './revoked-sessions.js'
import { createSessionsRepository, type RevokeReason, type SessionRow } from './sessions-repository.js'

/**
 * Sessions and rotating refresh tokens (docs/feed.md#tokens). A login starts a session: a family of refresh tokens
 * (RFC 9700 §4.14.2, https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2) whose id is the access tokens' `sid`.
 * A refresh token is 256 random bits (base64url), stored only as its SHA-256 hash, and works once: exchanging it
 * (POST /v1/auth/token) marks it rotated and hands out a new pair, in one transaction holding the token's and the
 * session's row locks. A token is found by its hash through the primary key, never compared byte by byte: a
 * client cannot steer the SHA-256 of what it sends, so the lookup's timing tells it nothing about stored tokens.
 * Presenting a rotated token again is a reuse, the sign of a stolen token: the whole family
 * is revoked, logged and counted, so the thief's newest token dies with the victim's.
 *
 * The grace rule: two refreshes racing with one token (two tabs, a retry after a lost answer) are told apart from a
 * replay. The loser is refused (401) but the family survives when (1) the token was rotated less than
 * FEED_REFRESH_REUSE_GRACE_S ago and (2) its successor has not been used yet. A thief replaying a token gets
 * nothing from the window (the replay is refused all the same), and as soon as either side goes on with the
 * successor, a later replay of the old token revokes the family. Without the rule, every double-click on a
 * "refresh" path would log the user out.
 *
 * Lifetimes: each token lives FEED_REFRESH_IDLE_TTL_S from its issue (idle), never past the session's absolute end
 * FEED_REFRESH_ABSOLUTE_TTL_S after the login, which no refresh extends.
 */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  /** Seconds the access token is valid. */
  expires_in: number
  /** Works once, on POST /v1/auth/token. */
  refresh_token: string
  /** Seconds the refresh token is valid if not used: the idle lifetime, cut by the session's absolute end. */
  refresh_token_expires_in: number
}

/** The OAuth 2.0 token response (RFC 6749 §5.1), for route schemas. */
export const TokenResponseSchema = Type.Object(
  {
    access_token: Type.String({ description: 'JWT access token (RFC 9068), sent as Authorization: Bearer' }),
    token_type: Type.Literal('Bearer'),
    expires_in: Type.Integer({ minimum: 0, description: 'Seconds the access token is valid' }),
    refresh_token: Type.String({ description: 'Opaque; exchange it once on POST /v1/auth/token' }),
    refresh_token_expires_in: Type.Integer({ minimum: 0, description: 'Seconds the refresh token is valid' }),
  },
  { additionalProperties: false },
)

export interface StartSessionInput {
  userId: string
  /** The provider the user logged in with (identities.provider). */
  provider: string
  userAgent?: string
  ip?: string
}

export interface SessionsOptions {
  sql: Sql
  tokens: AccessTokens
  logger: Logger
  registry: Registry
  idleTtlSeconds: number
  absoluteTtlSeconds: number
  reuseGraceSeconds: number
  /** Where a revocation is told to `authenticate`, so the session's access tokens die at once too. */
  revoked?: RevokedSessions
  /** The clock of every expiry decision; tests pass one they move. */
  now?: () => Date
}

/** 256 bits, base64url without padding: 43 characters. */
const TOKEN_BYTES = 32
const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/

export const hashRefreshToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest()

function newRefreshToken(): { token: string; hash: Buffer } {
  const token = randomBytes(TOKEN_BYTES).toString('base64url')
  return { token, hash: hashRefreshToken(token) }
}

const seconds = (from: Date, to: Date) => Math.max(0, Math.floor((to.getTime() - from.getTime()) / 1000))
const plus = (at: Date, s: number) => new Date(at.getTime() + s * 1000)
const earlier = (a: Date, b: Date) => (a.getTime() <= b.getTime() ? a : b)

/** RFC 6749 §5.2 invalid_grant, as problem+json carrying the OAuth code in `error`. */
export const invalidGrant = (detail: string) =>
  new ProblemError(feedProblems.invalidGrant, {
    detail,
    code: 'FEED_INVALID_GRANT',
    extensions: { error: 'invalid_grant' },
    // RFC 9110 §15.5.2: a 401 carries a challenge.
    headers: { 'www-authenticate': 'Bearer realm="feed", error="invalid_token"' },
  })

const INVALID = 'The refresh token is invalid or has been revoked; log in again.'
const EXPIRED = 'The refresh token has expired; log in again.'
const RACED = 'The refresh token was just exchanged by another request; use the tokens that request received.'

type RefreshOutcome =
  | { ok: true; response: TokenResponse }
  | { ok: false; problem: ProblemError; revokedSessionId?: string }

export function createSessions(options: SessionsOptions) {
  const { sql, tokens, logger } = options
  const now = options.now ?? (() => new Date())
  const repository = createSessionsRepository(sql)
  const reuse = counter(
    options.registry,
    'feed_refresh_token_reuse_total',
    'Rotated refresh tokens presented again, by outcome (revoked: the family was revoked; grace: refused only)',
    ['outcome'],
  )

  /** A new token of the family and the access token beside it, both issued at `at`. */
  async function issuePair(
    session: Pick<SessionRow, 'id' | 'user_id' | 'expires_at'>,
    parentHash: Buffer | null,
    at: Date,
    tx: Queryable,
  ): Promise<TokenResponse> {
    const refresh = newRefreshToken()
    const expiresAt = earlier(plus(at, options.idleTtlSeconds), session.expires_at)
    await repository.insertToken(
      { hash: refresh.hash, sessionId: session.id, parentHash, createdAt: at, expiresAt },
      tx,
    )
    const access = await tokens.issue({ userId: session.user_id, sessionId: session.id }, at)
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refresh.token,
      refresh_token_expires_in: seconds(at, expiresAt),
    }
  }

  async function refreshIn(tx: Queryable, presented: string): Promise<RefreshOutcome> {
    const refused = (detail: string): RefreshOutcome => ({ ok: false, problem: invalidGrant(detail) })
    if (!TOKEN_FORMAT.test(presented)) return refused(INVALID)
    const hash = hashRefreshToken(presented)
    const locked = await repository.lockToken(hash, tx)
    if (!locked) return refused(INVALID)
    const { token, session } = locked
    const at = now()
    if (session.revoked_at) return refused(INVALID)

    if (token.rotated_at) {
      const child = await repository.findChild(hash, tx)
      const sinceRotation = at.getTime() - token.rotated_at.getTime()
      if (child && !child.rotated_at && sinceRotation < options.reuseGraceSeconds * 1000) {
        reuse.inc({ outcome: 'grace' })
        logger.info(
          { sessionId: session.id, userId: session.user_id, sinceRotationMs: sinceRotation },
          'refresh token presented again within the grace window: refused, family kept',
        )
        return refused(RACED)
      }
      await repository.revoke(session.id, 'reuse', at, tx)
      reuse.inc({ outcome: 'revoked' })
      logger.warn(
        { sessionId: session.id, userId: session.user_id, rotatedAt: token.rotated_at.toISOString() },
        'refresh token reuse: a rotated token was presented again; the session is revoked (RFC 9700 §4.14.2)',
      )
      return { ok: false, problem: invalidGrant(INVALID), revokedSessionId: session.id }
    }

    if (at >= session.expires_at || at >= token.expires_at) return refused(EXPIRED)
    await repository.markRotated(hash, at, tx)
    await repository.touchSession(session.id, at, tx)
    return { ok: true, response: await issuePair(session, hash, at, tx) }
  }

  return {
    /** Starts a session for a user who just logged in: its first refresh token and an access token. */
    async start(input: StartSessionInput, tx?: Queryable): Promise<TokenResponse> {
      const at = now()
      const session = {
        id: uuidv7(),
        user_id: input.userId,
        expires_at: plus(at, options.absoluteTtlSeconds),
      }
      return inTransaction(tx ?? sql, async (t) => {
        await repository.insertSession(
          {
            id: session.id,
            userId: input.userId,
            provider: input.provider,
            userAgent: input.userAgent?.slice(0, 512) ?? null,
            ip: input.ip?.slice(0, 64) ?? null,
            createdAt: at,
            expiresAt: session.expires_at,
          },
          t,
        )
        return issuePair(session, null, at, t)
      })
    },

    /**
     * Exchanges a refresh token for a new pair (RFC 6749 §6). Throws invalid_grant (401) for a token that is
     * unknown, expired, revoked or already exchanged; a reuse outside the grace rule revokes the family first, and
     * that revocation is committed although the call throws.
     */
    async refresh(refreshToken: string): Promise<TokenResponse> {
      const outcome = await sql.begin((tx) => refreshIn(tx, refreshToken))
      if (!outcome.ok && outcome.revokedSessionId) await options.revoked?.mark(outcome.revokedSessionId)
      if (!outcome.ok) throw outcome.problem
      return outcome.response
    },

    /** Revokes the session of an access token's `sid`. True when this call revoked it. */
    async revoke(sessionId: string, reason: RevokeReason = 'logout', tx?: Queryable): Promise<boolean> {
      const revoked = await repository.revoke(sessionId, reason, now(), tx)
      await options.revoked?.mark(sessionId)
      return revoked
    },

    /**
     * Revokes the family a refresh token belongs to, whatever the token's state (a rotated one too: logging out
     * is never refused). An unknown token is no error (RFC 7009 §2.2): the answer does not tell which tokens exist.
     */
    async revokeByRefreshToken(refreshToken: string): Promise<boolean> {
      if (!TOKEN_FORMAT.test(refreshToken)) return false
      const sessionId = await repository.sessionIdOfToken(hashRefreshToken(refreshToken))
      if (sessionId === undefined) return false
      const revoked = await repository.revoke(sessionId, 'logout', now())
      await options.revoked?.mark(sessionId)
      return revoked
    },

    /** The session while it is live (not revoked, before its absolute end); undefined otherwise. */
    async findLive(sessionId: string): Promise<SessionRow | undefined> {
      const session = await repository.findSession(sessionId)
      if (!session || session.revoked_at || now() >= session.expires_at) return undefined
      return session
    },
  }
}

export type Sessions = ReturnType<typeof createSessions>
