import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { assertIdentifier, type Sql } from './client.js'
import { MigrationError } from './errors.js'

/**
 * One forward-only migration. `id` orders them ("0001_init") and is namespaced by its owner so shared packages
 * (outbox, inbox) can ship their own tables into every service schema: "outbox/0001_outbox".
 */
export interface Migration {
  id: string
  sql: string
}

export interface MigrateOptions {
  schema: string
  migrations: Migration[]
  log?: (line: string) => void
}

/** Reads `*.sql` files of a folder in name order, ids prefixed with `namespace/`. */
export async function loadMigrations(dir: string | URL, namespace = 'service'): Promise<Migration[]> {
  const path = dir instanceof URL ? fileURLToPath(dir) : dir
  const files = (await readdir(path)).filter((f) => f.endsWith('.sql')).sort()
  return Promise.all(
    files.map(async (f) => ({
      id: `${namespace}/${f.replace(/\.sql$/, '')}`,
      sql: await readFile(join(path, f), 'utf8'),
    })),
  )
}

const checksum = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Applies pending migrations to `schema` in one transaction. A transaction-scoped advisory lock makes two
 * instances starting at once take turns: the second waits, then finds nothing left to do.
 * An applied migration whose text changed stops the start: history is forward-only.
 */
export async function migrate(sql: Sql, options: MigrateOptions): Promise<string[]> {
  const schema = assertIdentifier(options.schema)
  const applied: string[] = []
  await sql.begin(async (tx) => {
    // DDL on a large table may take longer than the sessions' statement deadline; a migration has none.
    await tx`set local statement_timeout = 0`
    await tx`select pg_advisory_xact_lock(hashtext(${`migrations:${schema}`}))`
    await tx.unsafe(`create schema if not exists "${schema}"`)
    await tx.unsafe(`set local search_path to "${schema}", public`)
    await tx.unsafe(`create table if not exists schema_migrations (
      id text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`)
    const done = new Map<string, string>()
    for (const row of await tx<{ id: string; checksum: string }[]>`select id, checksum from schema_migrations`) {
      done.set(row.id, row.checksum)
    }
    for (const migration of options.migrations) {
      const sum = checksum(migration.sql)
      const previous = done.get(migration.id)
      if (previous !== undefined) {
        if (previous !== sum) {
          throw new MigrationError(
            'DB_MIGRATION_CHANGED',
            `migration ${migration.id} in schema ${schema} changed after it was applied; add a new migration instead`,
          )
        }
        continue
      }
      try {
        await tx.unsafe(migration.sql)
      } catch (cause) {
        throw new MigrationError(
          'DB_MIGRATION_FAILED',
          `migration ${migration.id} failed: ${(cause as Error).message}`,
          {
            cause,
          },
        )
      }
      await tx`insert into schema_migrations (id, checksum) values (${migration.id}, ${sum})`
      applied.push(migration.id)
      options.log?.(`applied migration ${migration.id} to schema ${schema}`)
    }
  })
  return applied
}
