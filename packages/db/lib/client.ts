import postgres from 'postgres'

export type Sql = postgres.Sql
export type Tx = postgres.TransactionSql
/** Either the pool or an open transaction: repository methods take one of these as their optional last argument. */
export type Queryable = Sql | Tx

/** PostgreSQL's "unknown" type (pg_type oid 705). */
const UNKNOWN_OID = 705

/**
 * JSON text as a query parameter, sent with PostgreSQL's "unknown" type: the server resolves it to the type the
 * statement gives it (a json column, a `::json` cast) and parses the text itself, and postgres.js does not serialise
 * it again (it would JSON.stringify a json-typed string). sql.json would send jsonb instead, which the server parses
 * into its binary form and, for a json column, prints again.
 */
export function jsonText(sql: Queryable, text: string) {
  return sql.typed(text as never, UNKNOWN_OID)
}

export interface CreateSqlOptions {
  url: string
  /** The service's own schema: set as search_path, so queries name tables without qualifying them. */
  schema: string
  max?: number
  /** Shows up in pg_stat_activity: which service holds a connection. */
  applicationName?: string
  connectTimeoutSeconds?: number
}

export function createSql(options: CreateSqlOptions): Sql {
  assertIdentifier(options.schema)
  return postgres(options.url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: 30,
    onnotice: () => {},
    connection: {
      search_path: `"${options.schema}",public`,
      application_name: options.applicationName ?? options.schema,
    },
  })
}

/** Schema names are interpolated into DDL, so they are checked rather than escaped. */
export function assertIdentifier(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid SQL identifier: ${JSON.stringify(name)}`)
  return name
}

/** Runs `fn` in `tx` when the caller already has a transaction, otherwise in a new one. */
export async function inTransaction<T>(sql: Queryable, fn: (tx: Tx) => Promise<T>): Promise<T> {
  if ('savepoint' in sql) return fn(sql as Tx)
  return (sql as Sql).begin((tx) => fn(tx)) as Promise<T>
}

/** `SELECT 1` with a deadline: the readiness probe must answer quickly even when the database hangs. */
export async function pingDatabase(sql: Sql, timeoutMs = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      sql`select 1`.execute(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
