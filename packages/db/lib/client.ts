import { tracingEnabled } from '@platform/tracing'
import postgres from 'postgres'
import { DeadlineError } from './errors.js'
import { instrumentQueries } from './tracing.js'

export type Sql = postgres.Sql
export type Tx = postgres.TransactionSql
/** Either the pool or an open transaction: repository methods take one of these as their optional last argument. */
export type Queryable = Sql | Tx
/** A piece of SQL made by a tagged template, to be placed in another query (postgres.js fragments). */
export type Fragment = postgres.PendingQuery<postgres.Row[]>

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
  /**
   * Server-side deadlines on every session (https://www.postgresql.org/docs/15/runtime-config-client.html): a
   * statement past `statementTimeoutMs` is cancelled (57014), a transaction idle past `idleInTransactionTimeoutMs`
   * is ended with its session (25P03). Both default to 15 s; 0 turns one off.
   */
  statementTimeoutMs?: number
  idleInTransactionTimeoutMs?: number
  /**
   * The longest a closed connection waits before reconnecting, in seconds. postgres.js waits 3^n / 100 s (jittered
   * down to half) after the pool's n-th failed attempt in a row, up to 20 s: a pool that keeps trying through an outage
   * of a few seconds (7 refused attempts) makes its first query after it wait 10-20 s. Unset: that default.
   */
  reconnectBackoffMaxSeconds?: number
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000

export function createSql(options: CreateSqlOptions): Sql {
  assertIdentifier(options.schema)
  const sql = postgres(options.url, {
    max: options.max ?? 10,
    connect_timeout: options.connectTimeoutSeconds ?? 5,
    idle_timeout: 30,
    onnotice: () => {},
    ...(options.reconnectBackoffMaxSeconds === undefined
      ? {}
      : { backoff: reconnectBackoff(options.reconnectBackoffMaxSeconds) }),
    connection: {
      search_path: `"${options.schema}",public`,
      application_name: options.applicationName ?? options.schema,
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    },
  })
  // Query spans (./tracing.ts), only when this process traces: nothing is wrapped otherwise.
  if (tracingEnabled()) instrumentQueries(sql)
  return sql
}

/** postgres.js's own backoff (src/index.js), with a lower cap. */
const reconnectBackoff = (maxSeconds: number) => (retries: number) =>
  (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, maxSeconds)

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

/**
 * The client-side deadline: rejects with a DeadlineError when `work` has not settled within `ms`. The server's
 * timeouts cannot fire on a connection that no longer reaches the server (a black-holed network, a half-open TCP
 * connection), so every call a service waits on also gets one of these. What `work` does after the deadline is
 * abandoned, not undone: callers use it where a late success is harmless (idempotent writes, reads).
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DeadlineError(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** `SELECT 1` with a deadline: the readiness probe must answer quickly even when the database hangs. */
export async function pingDatabase(sql: Sql, timeoutMs = 1000): Promise<void> {
  await withDeadline(sql`select 1`.execute(), timeoutMs, 'PostgreSQL ping')
}
