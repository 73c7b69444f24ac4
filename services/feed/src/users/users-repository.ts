import type { Queryable, Sql } from '@platform/db'
import { v7 as uuidv7 } from 'uuid'

/**
 * The users table (migrations/0002_users.sql). Methods take an optional transaction, so a command can create or
 * read a user inside its own; otherwise they run on the pool.
 */
export interface UserRow {
  id: string
  handle: string
  name: string
  avatar_url: string | null
  follower_count: number
  following_count: number
  post_count: number
  created_at: Date
}

export interface NewUser {
  /** Wanted handle; lower-cased and cut to the allowed characters, and suffixed with digits where taken. */
  handle: string
  name: string
  avatarUrl?: string | null
}

const HANDLE_MAX = 30

/** A handle the users table accepts (^[a-z0-9_]{1,30}$), from anything a provider's profile holds. */
export function normaliseHandle(wanted: string): string {
  const handle = wanted
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, HANDLE_MAX)
  return handle === '' ? 'user' : handle
}

export function createUsersRepository(sql: Sql) {
  const columns = sql`id, handle, name, avatar_url, follower_count::int, following_count::int, post_count::int, created_at`
  return {
    async findById(id: string, tx: Queryable = sql): Promise<UserRow | undefined> {
      const [row] = await tx<UserRow[]>`select ${columns} from users where id = ${id}`
      return row
    },

    /**
     * Inserts a user with a fresh UUIDv7 id. The handle is the wanted one, or the wanted one with the lowest free
     * numeric suffix: one statement, so two logins wanting the same handle never both get it (the unique index
     * decides, and the loser retries with the next suffix).
     */
    async create(user: NewUser, tx: Queryable = sql): Promise<UserRow> {
      const base = normaliseHandle(user.handle)
      const name = (user.name.trim() || base).slice(0, 100)
      for (let attempt = 0; attempt < 5; attempt++) {
        const [row] = await tx<UserRow[]>`
          with taken as (
            select handle from users where handle = ${base} or handle like ${prefixPattern(base.slice(0, HANDLE_MAX - 6))} escape '\\'
          ), wanted as (
            select case when not exists (select 1 from taken where handle = ${base}) then ${base}
              else left(${base}, ${HANDLE_MAX - 6}) || (
                -- generate_series yields in order, so limit 1 stops at the first free suffix
                select n::text from generate_series(2, 999999) n
                where not exists (select 1 from taken where handle = left(${base}, ${HANDLE_MAX - 6}) || n::text)
                limit 1
              ) end as handle
          )
          insert into users (id, handle, name, avatar_url)
          select ${uuidv7()}, handle, ${name}, ${user.avatarUrl ?? null} from wanted
          on conflict (handle) do nothing
          returning ${columns}`
        if (row) return row
      }
      throw new Error(`could not find a free handle for ${base}`)
    },
  }
}

/**
 * A LIKE pattern for the handles that start with `prefix`: `_` (a handle character) and `%` match any character
 * in LIKE, so they are escaped (with a backslash, the escape the statement names). The pattern stays a plain
 * prefix, which a btree index can serve as a range (under the C collation or text_pattern_ops); unescaped, `a_b%`
 * also matched `axb…`, and every such handle was read into the suffix search.
 */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
