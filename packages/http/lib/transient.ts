/**
 * Errors that say a dependency (PostgreSQL, Redis, a socket to either) is unreachable or too slow right now, not that
 * the request is wrong: the same request can succeed in a moment, so the client is answered 503 with Retry-After
 * (problem-handler.ts) instead of a 500 it would not retry. Recognised by their codes, names and messages, without
 * importing the clients: @platform/http does not depend on postgres.js or @platform/db. A permanent error (a
 * constraint violation 23505, bad input 22P02, a syntax error) matches none of them and stays what it was.
 */

/** Socket-level errors (Node's net/dns), as postgres.js and ioredis pass them on. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
])

/**
 * postgres.js's own connection errors (https://github.com/porsager/postgres#connection-errors), @platform/db's
 * client-side deadline (DeadlineError), and the SQLSTATEs of a server that cancelled or cannot take the statement
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html): 57014 query_canceled (statement_timeout),
 * 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 too_many_connections, class 08 connection exceptions.
 */
const DATABASE_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'DB_DEADLINE',
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
])

/** ioredis: retries exhausted while disconnected, and the messages of a command on a connection that is gone. */
const REDIS_NAMES = new Set(['MaxRetriesPerRequestError'])
const REDIS_MESSAGES = [
  /^Connection is closed\.?$/,
  /^Command timed out\.?$/,
  /^Stream isn't writeable and enableOfflineQueue options is false/,
  /^Reached the max retries per request limit/,
]

function transientItself(error: object): boolean {
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown }
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || DATABASE_CODES.has(code))) return true
  if (typeof name === 'string' && REDIS_NAMES.has(name)) return true
  return typeof message === 'string' && REDIS_MESSAGES.some((m) => m.test(message))
}

/** Whether `error`, or an error it wraps (`cause`, an AggregateError's `errors`), is a transient one. */
export function isTransientError(error: unknown, depth = 0): boolean {
  if (error === null || typeof error !== 'object' || depth > 4) return false
  if (transientItself(error)) return true
  const { cause, errors } = error as { cause?: unknown; errors?: unknown }
  if (isTransientError(cause, depth + 1)) return true
  return Array.isArray(errors) && errors.some((e) => isTransientError(e, depth + 1))
}

/** Seconds a client is told to wait (Retry-After) before trying a request that met a transient error again. */
export const TRANSIENT_RETRY_AFTER_SECONDS = 1
