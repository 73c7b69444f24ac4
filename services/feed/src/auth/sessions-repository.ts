import type { Queryable, Sql } from '@platform/db'

/**
 * The sessions and refresh_tokens tables (migrations/0003_sessions.sql). Methods take an optional transaction; the
 * refresh path runs them all in one (sessions.ts). Tokens appear here only as their SHA-256 hash.
 */
export interface SessionRow {
  id: string
  user_id: string
  provider: string
  created_at: Date
  expires_at: Date
  last_refreshed_at: Date | null
  revoked_at: Date | null
  revoked_reason: 'logout' | 'reuse' | null
}

export interface RefreshTokenRow {
  token_hash: Buffer
  session_id: string
  parent_hash: Buffer | null
  created_at: Date
  expires_at: Date
  rotated_at: Date | null
}

/** A presented token with its family, both rows locked until the transaction ends. */
export interface LockedToken {
  token: RefreshTokenRow
  session: SessionRow
}

export type RevokeReason = 'logout' | 'reuse'

export function createSessionsRepository(sql: Sql) {
  const sessionColumns = sql`s.id, s.user_id, s.provider, s.created_at, s.expires_at, s.last_refreshed_at, s.revoked_at, s.revoked_reason`
  const tokenColumns = sql`t.token_hash, t.session_id, t.parent_hash, t.created_at, t.expires_at, t.rotated_at`

  return {
    async insertSession(
      session: {
        id: string
        userId: string
        provider: string
        userAgent: string | null
        ip: string | null
        createdAt: Date
        expiresAt: Date
      },
      tx: Queryable = sql,
    ): Promise<void> {
      await tx`
        insert into sessions (id, user_id, provider, user_agent, ip, created_at, expires_at)
        values (${session.id}, ${session.userId}, ${session.provider}, ${session.userAgent}, ${session.ip},
          ${session.createdAt}, ${session.expiresAt})`
    },

    async insertToken(
      token: { hash: Buffer; sessionId: string; parentHash: Buffer | null; createdAt: Date; expiresAt: Date },
      tx: Queryable = sql,
    ): Promise<void> {
      await tx`
        insert into refresh_tokens (token_hash, session_id, parent_hash, created_at, expires_at)
        values (${token.hash}, ${token.sessionId}, ${token.parentHash}, ${token.createdAt}, ${token.expiresAt})`
    },

    /**
     * The token and its session, both locked FOR UPDATE: a second refresh, reuse or logout of the same family waits
     * here until this transaction ends, and then reads the rows as that one left them (PostgreSQL re-reads a locked
     * row that changed while it waited: https://www.postgresql.org/docs/current/transaction-iso.html#XACT-READ-COMMITTED).
     */
    async lockToken(hash: Buffer, tx: Queryable = sql): Promise<LockedToken | undefined> {
      const [row] = await tx<(RefreshTokenRow & { session: SessionRow })[]>`
        select ${tokenColumns}, row_to_json(s.*) as session
        from refresh_tokens t join sessions s on s.id = t.session_id
        where t.token_hash = ${hash}
        for update of t, s`
      if (!row) return undefined
      const { session, ...token } = row
      return { token, session: reviveSession(session) }
    },

    /**
     * The successor of a rotated token, read in a statement of its own: after lockToken's wait, this one sees what
     * the transaction that rotated the token committed.
     */
    async findChild(hash: Buffer, tx: Queryable = sql): Promise<RefreshTokenRow | undefined> {
      const [row] = await tx<RefreshTokenRow[]>`
        select ${tokenColumns} from refresh_tokens t where t.parent_hash = ${hash}`
      return row
    },

    async markRotated(hash: Buffer, at: Date, tx: Queryable = sql): Promise<void> {
      await tx`update refresh_tokens set rotated_at = ${at} where token_hash = ${hash}`
    },

    async touchSession(id: string, at: Date, tx: Queryable = sql): Promise<void> {
      await tx`update sessions set last_refreshed_at = ${at} where id = ${id}`
    },

    /** Revokes the family; true when this call revoked it (false: unknown or already revoked). */
    async revoke(id: string, reason: RevokeReason, at: Date, tx: Queryable = sql): Promise<boolean> {
      const result = await tx`
        update sessions set revoked_at = ${at}, revoked_reason = ${reason}
        where id = ${id} and revoked_at is null`
      return result.count > 0
    },

    async findSession(id: string, tx: Queryable = sql): Promise<SessionRow | undefined> {
      const [row] = await tx<SessionRow[]>`select ${sessionColumns} from sessions s where s.id = ${id}`
      return row
    },

    /** The session a token belongs to, without a lock (logout revokes it in one update). */
    async sessionIdOfToken(hash: Buffer, tx: Queryable = sql): Promise<string | undefined> {
      const [row] = await tx<{ session_id: string }[]>`
        select session_id from refresh_tokens where token_hash = ${hash}`
      return row?.session_id
    },
  }
}

/** row_to_json gives timestamps as ISO text. */
function reviveSession(raw: SessionRow): SessionRow {
  const date = (value: unknown) => (value === null ? null : new Date(value as string))
  return {
    ...raw,
    created_at: new Date(raw.created_at),
    expires_at: new Date(raw.expires_at),
    last_refreshed_at: date(raw.last_refreshed_at),
    revoked_at: date(raw.revoked_at),
  }
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>
