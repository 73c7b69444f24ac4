import { jsonText, type Sql, type Tx } from '@platform/db'
import { ProblemError } from '@platform/http'
import { feedProblems } from '../problems.js'

/**
 * Idempotent commands (docs/feed.md#idempotency), after the IETF httpapi draft "The Idempotency-Key HTTP Header
 * Field" (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/ §2.6, §2.7):
 *
 * - the first request with a key runs, and its response (status and body) is stored for FEED_IDEMPOTENCY_KEY_TTL_S
 *   (at least 24 h), scoped to the user;
 * - a repeat with the same key and the same request gets the stored response again, with `Idempotent-Replayed:
 *   true`, and has no second effect;
 * - the same key with another request (another fingerprint, idempotency-key.ts) is a 422;
 * - a repeat while the first is still running is a 409, at once.
 *
 * ONE transaction holds all of it, the command's own writes and outbox rows included:
 *
 * 1. `pg_try_advisory_xact_lock(hash(schema, user, key))`. Held until the transaction ends; NOT acquired means
 *    another transaction with this key is running right now: 409, without waiting. That is how "still running" is
 *    detected: by a lock that dies with its transaction, never by a committed "in progress" row, which a crash
 *    would leave behind and which then needs a lease and a takeover rule.
 * 2. Claim the key: `insert ... on conflict do update ... where expires_at <= now()`. A row comes back when the key
 *    is new (or its stored response has expired: the row is reused), as `in_progress`, which no other session can
 *    see before the commit. No row: a live, committed record exists; read it: another fingerprint is a 422,
 *    the same one a replay. Once we hold the lock, the holder before us has committed or rolled back, so what we
 *    read is final (the lock is released after the commit is visible).
 * 3. Run the command in the same transaction, then store its response and mark the record completed.
 * 4. Commit: the effect, its events and the record become visible together. A failure anywhere (a refused command,
 *    a constraint, a crash of the process or of PostgreSQL) rolls all of it back, the lock included, so a key is
 *    never stuck, and the same request may be sent again with the same key.
 *
 * Only successful (2xx) responses are stored: a refused command changed nothing, so repeating it cannot do harm,
 * and its answer may change (a user who did not exist yet). 50 concurrent requests with one key therefore end as
 * one effect: the one that took the lock runs; those arriving while it runs get 409; those after its commit replay.
 *
 * The lock key is a 64-bit hash; two different keys that collide while both are in flight make one of them a 409
 * (chance ~ n²/2⁶⁴ for n concurrent commands), which the client retries like any 409.
 */
export interface IdempotentRequest {
  userId: string
  key: string
  /** requestFingerprint(method, route, input): 32 bytes. */
  fingerprint: Buffer
}

export interface CommandResponse<B> {
  status: number
  body: B
}

export interface IdempotentOutcome<B> extends CommandResponse<B> {
  /** True when this is the stored response of an earlier request with the key. */
  replayed: boolean
}

export interface IdempotencyOptions {
  /** How long a stored response is replayed (FEED_IDEMPOTENCY_KEY_TTL_S, at least 86400). */
  ttlSeconds: number
  /** The service's schema: one lock space per deployment sharing a database (and per test schema). */
  schema: string
}

export interface Idempotency {
  /** Runs `command` once per (user, key) in one transaction with the record; see above. */
  run<B>(request: IdempotentRequest, command: (tx: Tx) => Promise<CommandResponse<B>>): Promise<IdempotentOutcome<B>>
}

export const keyInFlight = () =>
  new ProblemError(feedProblems.idempotencyKeyInFlight, {
    code: 'FEED_IDEMPOTENCY_KEY_IN_FLIGHT',
    detail: 'A request with this Idempotency-Key is still being processed; retry after it has finished.',
    headers: { 'retry-after': '1' },
  })

export const keyReused = () =>
  new ProblemError(feedProblems.idempotencyKeyReused, {
    code: 'FEED_IDEMPOTENCY_KEY_REUSED',
    detail: 'This Idempotency-Key was used for another request; use a new key for a new request.',
  })

interface StoredRow {
  fingerprint: Buffer
  state: 'in_progress' | 'completed'
  response_status: number | null
  response_body: unknown
}

export function createIdempotency(sql: Sql, options: IdempotencyOptions): Idempotency {
  const { ttlSeconds } = options
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 86_400) {
    throw new Error('idempotency: stored responses must be kept at least 24 hours (86400 s)')
  }
  const lockKey = (request: IdempotentRequest) => `${options.schema}:idempotency:${request.userId}:${request.key}`

  return {
    async run(request, command) {
      const { userId, key, fingerprint } = request
      return (await sql.begin(async (tx) => {
        const [lock] = await tx<{ locked: boolean }[]>`
          select pg_try_advisory_xact_lock(hashtextextended(${lockKey(request)}, 0)) as locked`
        if (!lock?.locked) throw keyInFlight()

        const claimed = await tx`
          insert into idempotency_keys (user_id, key, fingerprint, state, created_at, expires_at)
          values (${userId}, ${key}, ${fingerprint}, 'in_progress', now(), now() + make_interval(secs => ${ttlSeconds}))
          on conflict (user_id, key) do update set
            fingerprint = excluded.fingerprint, state = 'in_progress', response_status = null, response_body = null,
            created_at = excluded.created_at, expires_at = excluded.expires_at
          where idempotency_keys.expires_at <= now()
          returning 1`
        if (claimed.length === 0) {
          const [stored] = await tx<StoredRow[]>`
            select fingerprint, state, response_status, response_body from idempotency_keys
            where user_id = ${userId} and key = ${key}`
          if (!stored) throw new Error('idempotency: a conflicting key row vanished while its lock was held')
          if (!stored.fingerprint.equals(fingerprint)) throw keyReused()
          // Never committed as in_progress (see above); kept as a guard should a future path commit one.
          if (stored.state !== 'completed' || stored.response_status === null) throw keyInFlight()
          return { status: stored.response_status, body: stored.response_body, replayed: true }
        }

        const response = await command(tx)
        if (response.status < 200 || response.status > 299) {
          throw new Error(`idempotency: only 2xx responses are stored, got ${response.status}`)
        }
        await tx`
          update idempotency_keys
          set state = 'completed', response_status = ${response.status},
            response_body = ${jsonText(tx, JSON.stringify(response.body))}::json
          where user_id = ${userId} and key = ${key}`
        return { ...response, replayed: false }
      })) as IdempotentOutcome<never>
    },
  }
}
