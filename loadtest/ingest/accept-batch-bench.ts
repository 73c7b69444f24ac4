/**
 * The statement of a group commit alone (services/ingest/src/accept-batch.ts), without HTTP, signatures or the
 * broker: batches of BATCH_SIZE new events (the group commit's default maximum, 128) written back to back by
 * CONCURRENCY callers for BENCH_SECONDS. Prints events/s and the median and p99 time per batch. A quick check of a
 * change to the SQL (seconds, not the minutes of bench.ts); bench.ts stays the judge of ingest as a whole.
 *
 *   node --import tsx loadtest/ingest/accept-batch-bench.ts   (BENCH_SECONDS=10, BATCH_SIZE=128, CONCURRENCY=4)
 */
import { randomUUID } from 'node:crypto'
import { loadMigrations, migrate } from '@platform/db'
import { outboxMigrations } from '@platform/outbox'
import { createTestSchema } from '@platform/testing'
import { type AcceptItem, createBatchAcceptor } from '../../services/ingest/src/accept-batch.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const BATCH_SIZE = Number(process.env.BATCH_SIZE ?? 128)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4)

const db = await createTestSchema('accept_bench')
try {
  const own = await loadMigrations(new URL('../../services/ingest/migrations/', import.meta.url))
  await migrate(db.sql, { schema: db.schema, migrations: [...outboxMigrations, ...own] })
  const accept = createBatchAcceptor(db.sql, { service: 'ingest', environment: 'bench' })
  // A payment webhook of the size bench.ts sends (~600 bytes of JSON).
  const payload = {
    id: 'evt_x',
    type: 'charge.succeeded',
    data: { object: { id: 'ch_1', amount: 1999, currency: 'eur', metadata: { order: 'o-1', note: 'x'.repeat(300) } } },
  }
  const batch = (): AcceptItem[] =>
    Array.from({ length: BATCH_SIZE }, () => ({
      source: 'payment',
      format: 'stripe' as const,
      dedupeKey: `evt_${randomUUID()}`,
      eventType: 'charge.succeeded',
      payload,
    }))
  await accept(batch()) // prepares the statement
  const times: number[] = []
  const end = Date.now() + SECONDS * 1000
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        const started = process.hrtime.bigint()
        await accept(batch())
        times.push(Number(process.hrtime.bigint() - started) / 1e6)
      }
    }),
  )
  times.sort((a, b) => a - b)
  const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(1)
  console.log(
    `${Math.round((times.length * BATCH_SIZE) / SECONDS)} events/s, ${times.length} batches of ${BATCH_SIZE}, ` +
      `${CONCURRENCY} at once: median ${at(0.5)} ms, p99 ${at(0.99)} ms per batch`,
  )
} finally {
  await db.drop()
}
