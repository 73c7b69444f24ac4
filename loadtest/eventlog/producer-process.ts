/**
 * Producers for bench.ts in a process of their own (PRODUCER_PROCESSES > 1), as in production, where the services
 * that record events are processes of their own: the benchmark's single Node thread is then not the producers'
 * ceiling. They write the same outbox as the benchmark's producers; the benchmark's relays publish it.
 *
 * Env: DATABASE_URL, DB_SCHEMA (the producers' schema, migrated by the benchmark), EVENTS, FROM (the index of the
 * first event: contexts differ between processes), PER_TX, PRODUCERS (concurrent writers in this process).
 * Prints `ready` once connected, starts recording on SIGUSR2 (so setup is not timed), prints for every committed
 * transaction `committed <time> <id> <id> ...` (time in ms since the epoch, performance.timeOrigin +
 * performance.now(), the benchmark's clock), then `done`, and exits on SIGTERM (alive until then, so the benchmark
 * can read its CPU time from /proc at the end of the phase).
 */
import { createSql } from '@platform/db'
import { createEventLog } from '@platform/eventlog'
import { recordConcurrently } from '@platform/eventlog/testing'
import { env } from '../../services/log-shipper/test/fixtures/standalone-shipper.js'
import { contextOf } from './sample.js'

const now = () => performance.timeOrigin + performance.now()

const sql = createSql({ url: env('DATABASE_URL'), schema: env('DB_SCHEMA'), applicationName: 'bench-producer' })
const eventLog = createEventLog({ service: 'bench', environment: 'bench' })
const from = Number(env('FROM'))
await sql`select 1`
const go = new Promise((resolve) => process.once('SIGUSR2', resolve))
process.stdout.write('ready\n')
await go
await recordConcurrently(sql, eventLog, {
  count: Number(env('EVENTS')),
  entry: (i) => ({ eventType: 'order.paid', context: contextOf(from + i) }),
  producers: Number(env('PRODUCERS')),
  perTx: Number(env('PER_TX')),
  onCommit: (ids) => process.stdout.write(`committed ${now()} ${ids.join(' ')}\n`),
})
process.stdout.write('done\n')
await new Promise((resolve) => process.once('SIGTERM', resolve))
await sql.end({ timeout: 5 })
