import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Sql } from '@platform/db'
import { clickhouseErrorCode } from './clickhouse-client.js'
import { LogShipperError } from './errors.js'

/**
 * The log-shipper owns the ClickHouse schema and migrates it at start, the way @platform/db migrates PostgreSQL:
 * forward-only files applied in name order, recorded in a `schema_migrations` table (in ClickHouse, in the
 * configured database), a changed applied file refusing the start.
 *
 * ClickHouse has no transactional DDL: a migration that fails half-way is not rolled back. Statements are
 * therefore written to be re-runnable (IF NOT EXISTS, IF EXISTS) and a failed migration is simply run again
 * from its first statement at the next start. 18.16 has no ADD COLUMN IF NOT EXISTS: an `ALTER TABLE ... ADD COLUMN`
 * of one column that ClickHouse refuses because the column exists (ILLEGAL_COLUMN, "already exists") counts as done. Two shippers starting at once take turns through a PostgreSQL
 * advisory lock (ClickHouse has no locks).
 */
export interface ClickHouseMigration {
  id: string
  /** One statement each: the HTTP interface runs one statement per request. */
  statements: string[]
  checksum: string
}

const checksum = (text: string) => createHash('sha256').update(text).digest('hex')

/** Splits on `;` at the end of a line and drops `--` comment lines. */
export function parseClickHouseMigration(id: string, text: string): ClickHouseMigration {
  const statements = text
    .split(/;\s*$/m)
    .map((s) =>
      s
        .split('\n')
        .filter((line) => !/^\s*--/.test(line))
        .join('\n')
        .trim(),
    )
    .filter(Boolean)
  return { id, statements, checksum: checksum(text) }
}

export async function loadClickHouseMigrations(dir: URL): Promise<ClickHouseMigration[]> {
  const path = fileURLToPath(dir)
  const files = (await readdir(path)).filter((f) => f.endsWith('.sql')).sort()
  return Promise.all(
    files.map(async (f) => parseClickHouseMigration(f.replace(/\.sql$/, ''), await readFile(join(path, f), 'utf8'))),
  )
}

export interface MigrateClickHouseOptions {
  /** The client's default database is the one migrated (created beforehand, ensureClickHouseDatabase). */
  client: ClickHouseClient
  migrations: ClickHouseMigration[]
  /** For the advisory lock that serialises shippers starting together. */
  sql: Sql
  /** Names the lock; the ClickHouse database being migrated. */
  database: string
  log?: (line: string) => void
}

export async function migrateClickHouse(options: MigrateClickHouseOptions): Promise<string[]> {
  const { client } = options
  const applied: string[] = []
  await options.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${`clickhouse-migrations:${options.database}`}))`
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS schema_migrations (
        id String, checksum String, applied_at DateTime('UTC') DEFAULT now()
      ) ENGINE = MergeTree ORDER BY id`,
    })
    const result = await client.query({ query: 'SELECT id, checksum FROM schema_migrations', format: 'JSONEachRow' })
    const done = new Map((await result.json<{ id: string; checksum: string }>()).map((r) => [r.id, r.checksum]))
    for (const migration of options.migrations) {
      const previous = done.get(migration.id)
      if (previous !== undefined) {
        if (previous !== migration.checksum) {
          throw new LogShipperError(
            'LOGSHIP_MIGRATION_CHANGED',
            `ClickHouse migration ${migration.id} changed after it was applied; add a new migration instead`,
          )
        }
        continue
      }
      for (const statement of migration.statements) {
        try {
          await client.command({ query: statement })
        } catch (cause) {
          if (columnExisted(statement, cause)) continue
          throw new LogShipperError(
            'LOGSHIP_MIGRATION_FAILED',
            `ClickHouse migration ${migration.id} failed: ${(cause as Error).message}`,
            { cause },
          )
        }
      }
      await client.insert({
        table: 'schema_migrations',
        values: [{ id: migration.id, checksum: migration.checksum }],
        columns: ['id', 'checksum'],
        format: 'JSONEachRow',
      })
      applied.push(migration.id)
      options.log?.(`applied ClickHouse migration ${migration.id}`)
    }
  })
  return applied
}

const ILLEGAL_COLUMN = 44
const ADD_ONE_COLUMN = /^\s*ALTER\s+TABLE\s+\S+\s+ADD\s+COLUMN\s+[^,]+$/i

/** A re-run ADD COLUMN of a column the previous, half-finished run added. */
function columnExisted(statement: string, cause: unknown): boolean {
  return (
    ADD_ONE_COLUMN.test(statement) &&
    clickhouseErrorCode(cause) === ILLEGAL_COLUMN &&
    /already exists/i.test(String((cause as Error)?.message))
  )
}

/** The shipper's own migrations, services/log-shipper/clickhouse/*.sql. */
export const clickhouseMigrationsDir = new URL('../clickhouse/', import.meta.url)
