import type { Queryable, Sql } from '@platform/db'

/**
 * The identities table (migrations/0002_users.sql): which user an account at a provider belongs to, by
 * (provider, subject). Never looked up by email. Methods take an optional transaction.
 */
export interface IdentityRow {
  provider: string
  subject: string
  user_id: string
  email: string | null
  email_verified: boolean
  created_at: Date
  last_login_at: Date
}

export interface IdentityKey {
  provider: string
  subject: string
}

export interface NewIdentity extends IdentityKey {
  userId: string
  email: string | null
  emailVerified: boolean
}

export function createIdentitiesRepository(sql: Sql) {
  return {
    /**
     * Serialises every login and link of one identity until the transaction ends (a transaction-level advisory
     * lock), so two first logins of one account create one user, not two: the second waits and finds the first's.
     */
    async lock({ provider, subject }: IdentityKey, tx: Queryable): Promise<void> {
      await tx`select pg_advisory_xact_lock(hashtextextended(${`identity:${provider}:${subject}`}, 0))`
    },

    async find({ provider, subject }: IdentityKey, tx: Queryable = sql): Promise<IdentityRow | undefined> {
      const [row] = await tx<IdentityRow[]>`
        select provider, subject, user_id, email, email_verified, created_at, last_login_at
        from identities where provider = ${provider} and subject = ${subject}`
      return row
    },

    async insert(identity: NewIdentity, tx: Queryable = sql): Promise<void> {
      await tx`
        insert into identities (provider, subject, user_id, email, email_verified)
        values (${identity.provider}, ${identity.subject}, ${identity.userId}, ${identity.email},
          ${identity.emailVerified})`
    },

    /** A later login: the provider's current email (it may have changed there) and the time. */
    async touch(identity: Omit<NewIdentity, 'userId'>, tx: Queryable = sql): Promise<void> {
      await tx`
        update identities set email = ${identity.email}, email_verified = ${identity.emailVerified},
          last_login_at = now()
        where provider = ${identity.provider} and subject = ${identity.subject}`
    },

    async listForUser(userId: string, tx: Queryable = sql): Promise<IdentityRow[]> {
      return tx<IdentityRow[]>`
        select provider, subject, user_id, email, email_verified, created_at, last_login_at
        from identities where user_id = ${userId} order by created_at`
    },
  }
}

export type IdentitiesRepository = ReturnType<typeof createIdentitiesRepository>
