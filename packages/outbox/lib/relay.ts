import { DeadlineError, type Sql, withDeadline } from '@platform/db'
import type { Logger } from '@platform/logging'
import type { OutgoingMessage, Publisher } from '@platform/messaging'
import { counter, createProgressMonitor, gauge, type ProgressMonitor, type Registry } from '@platform/metrics'
import { endSpan, type Span, tracingEnabled } from '@platform/tracing'
import { BUCKETS } from './outbox-rows.js'
import { tracedMessage } from './relay-trace.js'

export interface OutboxRelayOptions {
  sql: Sql
  /** The service schema holding the outbox table; also names the NOTIFY channel. */
  schema: string
  publisher: Publisher
  logger: Logger
  registry?: Registry
  /** Receives what the relay did instead of `registry` (a relay on a worker thread reports to its parent). */
  observer?: RelayObserver
  /** Rows per claim; one transaction and one confirm round trip each. */
  batchSize?: number
  /** Polling fallback for a lost notification (LISTEN reconnects, a notify during a restart). */
  pollIntervalMs?: number
  /**
   * After a claim that did not fill a batch, the next one waits this long, whatever notifications arrive meanwhile:
   * a relay that keeps up would otherwise claim once per producer commit, a few rows at a time, and each claim's
   * fixed cost (six statements, a commit) then outweighs its rows. Adds at most this much to the publish delay.
   */
  minClaimIntervalMs?: number
  /** Buckets one claim may take: less than all, so several relays share the work. */
  bucketsPerClaim?: number
  /** Test hook: runs after the broker confirmed a batch and before the rows are deleted. */
  afterPublish?: (ids: string[]) => void | Promise<void>
  /** Test hook: runs after each claim that finished, with the rows it published, before the relay waits. */
  afterClaim?: (rows: number) => void | Promise<void>
  /**
   * Client-side deadline of one claim (its transaction and the broker's confirms). Past it the claim counts as
   * failed and the relay goes on; its rows, still locked by the open transaction, wait for the server to end it
   * (idle_in_transaction_session_timeout) and are published again by a later claim.
   */
  claimTimeoutMs?: number
  /** Readiness fails when no claim has finished (published or found nothing) for this long. */
  stallAfterMs?: number
}

/** What a relay reports as it works: a claim that published `rows` rows, a claim that failed. */
export interface RelayObserver {
  claimed(rows: number): void
  failed(): void
  /** A claim finished (published, found nothing, or failed within its deadline): the relay is not stuck. */
  cycled?(): void
}

/**
 * The relay's metrics in `registry`, as an observer: outbox_published_total, outbox_publish_failures_total and
 * outbox_claims_total, and the gauge outbox_oldest_unpublished_seconds, which reads the table at scrape time.
 */
export function relayMetrics(registry: Registry, sql: Sql): RelayObserver {
  const published = counter(registry, 'outbox_published_total', 'Outbox rows published and confirmed')
  const failures = counter(registry, 'outbox_publish_failures_total', 'Outbox batches that failed to publish')
  const claims = counter(registry, 'outbox_claims_total', 'Claims that published at least one outbox row')
  gauge(
    registry,
    'outbox_oldest_unpublished_seconds',
    'Age of the oldest row not yet published (0 when empty)',
    [],
    async function collect() {
      try {
        const [row] = await sql<{ age: number | null }[]>`
          select extract(epoch from now() - min(created_at))::float8 as age from outbox`
        this.set(row?.age ?? 0)
      } catch {
        // Scraping must not fail because the database is down; readiness reports that.
      }
    },
  )
  return {
    claimed(rows) {
      published.inc(rows)
      claims.inc()
    },
    failed: () => failures.inc(),
  }
}

export interface OutboxRelay {
  start(): Promise<void>
  /** Finishes the batch in flight, then stops. */
  stop(): Promise<void>
  /** Publishes what is there now, until the outbox is empty (tests and shutdown). Returns rows published. */
  drain(): Promise<number>
  /** For /health/ready: stalled when the running relay has finished no claim for `stallAfterMs`. */
  progress: ProgressMonitor
}

export const DEFAULT_CLAIM_TIMEOUT_MS = 30_000

/**
 * A claimed row as postgres.js returns it with `.raw()`: every column as the bytes PostgreSQL sent (text format),
 * null for NULL. The body is passed to the broker as these bytes: a 64 KiB event-log envelope is neither decoded into
 * a JavaScript string nor encoded back (and never sits in the JavaScript heap, where the young-generation collector
 * would copy it).
 */
type RawOutboxRow = [
  id: Buffer,
  messageId: Buffer,
  exchange: Buffer,
  routingKey: Buffer,
  type: Buffer | null,
  body: Buffer,
  headers: Buffer,
  correlationId: Buffer | null,
  createdAt: Buffer,
  traceparent: Buffer | null,
  tracestate: Buffer | null,
]

const text = (b: Buffer) => b.toString('utf8')

/**
 * loadtest/outbox/bench.ts, a producer committing 30 rows 133 times a second: claiming after every commit took 26 rows a
 * claim and 283 µs of machine CPU per row (PostgreSQL 170); 20 ms between partial claims, 120 rows and 151 µs
 * (PostgreSQL 62). 10 and 25 ms measured alike.
 */
export const MIN_CLAIM_INTERVAL_MS = 20

function shuffled(n: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[a[i], a[j]] = [a[j] as number, a[i] as number]
  }
  return a
}

/** The longest stop() waits for its UNLISTEN. */
const UNLISTEN_TIMEOUT_MS = 2000

/**
 * Publishes committed outbox rows and deletes them once the broker confirmed them.
 *
 * Why no row is ever skipped: the relay keeps no cursor. Every claim reads the oldest rows that exist *now*;
 * a row whose transaction commits late (a lower id committing after a higher one) is simply found by a later
 * claim. A reader that remembered "last id published" would skip it.
 *
 * Why per-key order holds with several relays: a claim first takes transaction-scoped advisory locks on some
 * buckets (pg_try_advisory_xact_lock, never waits) and reads only those buckets in id order; a key lives in one
 * bucket, so only one relay at a time publishes its rows. The locks are released by the commit that deletes
 * the rows, after the confirms.
 *
 * Crash between publish and delete: the rows stay and are published again; consumers' inboxes drop the repeat.
 */
export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { sql, schema, publisher, logger } = options
  const batchSize = options.batchSize ?? 500
  const pollIntervalMs = options.pollIntervalMs ?? 1000
  const minClaimIntervalMs = options.minClaimIntervalMs ?? MIN_CLAIM_INTERVAL_MS
  const bucketsPerClaim = options.bucketsPerClaim ?? Math.ceil(BUCKETS / 2)
  const channel = `${schema}_outbox`
  let running = false
  let loop: Promise<void> | undefined
  let wake: (() => void) | undefined
  let stopWaiting: (() => void) | undefined
  let unlisten: (() => Promise<void>) | undefined
  /** Whether a notification came since the current claim began (its snapshot may not hold the row announced). */
  let notified = false
  const claimTimeoutMs = options.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS
  const stallAfterMs = options.stallAfterMs ?? 20_000
  const progress = createProgressMonitor('outbox relay', stallAfterMs)

  const metrics = options.observer ?? (options.registry && relayMetrics(options.registry, sql))

  async function claimAndPublish(): Promise<number> {
    return sql.begin(async (tx) => {
      // The deleting commit need not wait for its WAL flush: if a crash loses it, the rows are published again, which
      // a crash between publish and delete does anyway (consumers deduplicate by message id). Sent with the probe
      // below, in one round trip (https://www.postgresql.org/docs/15/wal-async-commit.html).
      const asynchronousCommit = tx`set local synchronous_commit = off`
      // The transaction waits for the broker's confirms; the session's idle-in-transaction limit must not end it
      // sooner than the claim's own deadline does (slow confirms would otherwise republish the batch over and over).
      const idleLimit = tx`select set_config('idle_in_transaction_session_timeout', ${String(claimTimeoutMs)}, true)`
      // Only buckets that hold rows (one index probe each), in random order; `offset 0` keeps the planner from
      // taking locks before the emptiness test, so a relay never holds, or sleeps on, an empty bucket.
      const probe = tx<{ b: number }[]>`
        select b from (
          select b from unnest(${shuffled(BUCKETS)}::int[]) as b
          where exists (select 1 from outbox where bucket = b)
          offset 0
        ) as nonempty
        where pg_try_advisory_xact_lock(hashtext(${channel}), b)
        limit ${bucketsPerClaim}`
      const [, , buckets] = await Promise.all([asynchronousCommit, idleLimit, probe])
      if (buckets.length === 0) return 0
      const rows = (await tx`
        select id, message_id, exchange, routing_key, type, body, headers, correlation_id,
          floor(extract(epoch from created_at))::bigint as created_at, traceparent, tracestate
        from outbox
        where bucket = any(${buckets.map((r) => r.b)}::int[])
        order by id
        limit ${batchSize}`.raw()) as unknown as RawOutboxRow[]
      if (rows.length === 0) return 0
      const ids = rows.map((row) => text(row[0]))
      const traced = tracingEnabled()
      const spans: Span[] = []
      const messages: OutgoingMessage[] = rows.map(
        ([
          ,
          messageId,
          exchange,
          routingKey,
          type,
          body,
          headers,
          correlationId,
          createdAt,
          traceparent,
          tracestate,
        ]) => {
          const message: OutgoingMessage = {
            exchange: text(exchange),
            routingKey: text(routingKey),
            // The JSON text exactly as enqueued: no parse and re-serialise (nor decode and encode) on the way.
            body,
            messageId: text(messageId),
            ...(type ? { type: text(type) } : {}),
            ...(correlationId ? { correlationId: text(correlationId) } : {}),
            headers: JSON.parse(text(headers)) as Record<string, unknown>,
            timestamp: Number(text(createdAt)),
          }
          if (!traced || !traceparent) return message
          const publishing = tracedMessage(message, text(traceparent), tracestate ? text(tracestate) : undefined)
          spans.push(...publishing.spans)
          return publishing.message
        },
      )
      try {
        await publisher.publishBatch(messages)
      } catch (error) {
        for (const span of spans) endSpan(span, error)
        throw error
      }
      for (const span of spans) span.end()
      await options.afterPublish?.(ids)
      await tx`delete from outbox where id = any(${ids}::bigint[])`
      metrics?.claimed(rows.length)
      return rows.length
    })
  }

  async function drain(): Promise<number> {
    let total = 0
    for (;;) {
      const n = await claimAndPublish()
      total += n
      if (n === 0) {
        // Other relays may hold some buckets: only an empty table means done.
        const [left] = await sql<{ n: number }[]>`select count(*)::int as n from outbox`
        if (!left?.n) return total
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  }

  /** Waits `ms`; stop() cuts it short, and so does a notification when `wakeable`. */
  function sleep(ms: number, wakeable = true): Promise<void> {
    if (ms <= 0 || !running) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        wake = undefined
        stopWaiting = undefined
        resolve()
      }
      stopWaiting = done
      if (wakeable) wake = done
    })
  }

  async function run(): Promise<void> {
    let failures = 0
    while (running) {
      try {
        notified = false
        const n = await withDeadline(claimAndPublish(), claimTimeoutMs, 'an outbox claim')
        await options.afterClaim?.(n)
        failures = 0
        progress.progressed()
        metrics?.cycled?.()
        if (n >= batchSize) continue
        // A partial claim: wait for more rows to pile up, whatever notifications arrive meanwhile.
        if (n > 0) await sleep(minClaimIntervalMs, false)
        // A notification during a claim that found nothing announced a row committed after the claim's snapshot:
        // claim again rather than wait for the next notification or the poll.
        else if (!notified) await sleep(pollIntervalMs)
      } catch (error) {
        failures++
        // Settled, if failed: the relay is not hung (a broker alarm or a bad row must not take every instance out
        // of rotation; the outbox lag alert covers those). Only a claim that hangs past its deadline stalls it.
        if (!(error instanceof DeadlineError)) {
          progress.progressed()
          metrics?.cycled?.()
        }
        metrics?.failed()
        logger.warn({ err: (error as Error).message, failures }, 'outbox relay could not publish; retrying')
        // Capped below the stall limit: a relay backing off from a database that is back must not read as stalled.
        await sleep(Math.min(pollIntervalMs * 2 ** Math.min(failures, 5), 30_000, stallAfterMs / 2))
      }
    }
  }

  return {
    drain,
    progress,
    async start() {
      if (running) return
      running = true
      // A relay always has work to look for: stalled means no claim finished for stallAfterMs.
      progress.setPending(1)
      try {
        const { unlisten: u } = await sql.listen(channel, () => {
          notified = true
          wake?.()
        })
        unlisten = u
      } catch (error) {
        // postgres.js keeps the channel and LISTENs again when its connection comes back, as on every reconnect
        // (test/relay-listen.int.test.ts holds it to that); the relay polls until then.
        logger.warn({ err: (error as Error).message }, 'LISTEN failed; the outbox relay polls until it holds')
      }
      loop = run()
    },
    async stop() {
      running = false
      progress.setPending(0)
      stopWaiting?.()
      await loop
      // Bounded: on a half-open connection UNLISTEN never answers, and stop() must still return (the process exits
      // and the server drops the session with it).
      if (unlisten) await withDeadline(unlisten(), UNLISTEN_TIMEOUT_MS, 'UNLISTEN').catch(() => {})
    },
  }
}
