/**
 * Analytics at size (issue 15), in one run on one machine:
 *   queries    DAU of 30 days and retention of one day, p50/p95: the API (HTTP, answered from the rollups) and the
 *              rollup query alone, beside the raw reference queries over `events` (services/analytics/src/queries/
 *              sql.ts) on the same data. Targets: API p95 < 50 ms and >= 100x faster than the raw queries. Beside
 *              them (no target): weekly and monthly active users of one day counted exactly (user_day; events for
 *              the raw week), and estimated for 30 days from the daily HyperLogLog sketches, with their error;
 *   ingestion  events/s through POST /v1/events (batches of 10,000, CONCURRENCY at once) and through the activity
 *              consumers (a backlog of single-event messages in analytics.activity drained, then one of
 *              activity.batch.v1 messages in analytics.activity-batches), beside a direct COPY of rows of the same
 *              shape into events, in the same table of EVENTS events. Target: >= 30% of the COPY rate.
 *
 *   node --import tsx loadtest/analytics/bench.ts
 *   (EVENTS=10000000 USERS=1000000 DAYS=90 INGEST=300000 CONCURRENCY=2 API_RUNS=200 RAW_RUNS=5 PG=shared|private
 *    SKETCHES=on|off: off measures ingestion without the sketches' upkeep, as a database without hll runs it)
 *
 * PG=shared (the default): the machine's PostgreSQL as it is configured (shared_buffers 128 MB, Debian's default).
 * PG=private: a PostgreSQL of the benchmark's own (startPrivatePostgres) with shared_buffers=2GB, fsync=on and
 * max_wal_size=4GB, as a server sized for these ~3 GB of tables would be: the random per-user reads of the rollup
 * step and of the events' user index then hit shared buffers instead of evicting dirty pages to the OS cache.
 *
 * The history is written by PostgreSQL (generate_series, in time order, with the indexes in place), the rollups then
 * built from it by the service's own rebuild (rollup/rebuild.ts), and everything vacuumed and analyzed: the state of
 * a table that has been running for DAYS days. The service runs as its own process (src/server.ts, production
 * defaults), in a schema and vhost of its own, dropped at the end.
 */
import { fileURLToPath } from 'node:url'
import {
  ACTIVITY_BATCH_MAX_EVENTS,
  type ActivityRecordedV1,
  activityBatch,
  activityRecorded,
} from '@platform/contracts'
import { createSql } from '@platform/db'
import { connectBroker, createPublisher } from '@platform/messaging'
import {
  createTestVhost,
  type PrivatePostgres,
  type RunningProcess,
  startPrivatePostgres,
  startTsProcess,
  testUrls,
  uniqueName,
} from '@platform/testing'
import { createAnalyticsRepository } from '../../services/analytics/src/queries/analytics-repository.js'
import { rebuildRollups } from '../../services/analytics/src/rollup/rebuild.js'
import { copyRows, generateHistory, ingestRows } from './data.js'

const EVENTS = Number(process.env.EVENTS ?? 10_000_000)
const USERS = Number(process.env.USERS ?? 1_000_000)
const DAYS = Number(process.env.DAYS ?? 90)
const INGEST = Number(process.env.INGEST ?? 300_000)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 2)
const API_RUNS = Number(process.env.API_RUNS ?? 200)
const RAW_RUNS = Number(process.env.RAW_RUNS ?? 5)
/** off: the daily HyperLogLog sketches dropped before anything is measured, as on a database without hll. */
const SKETCHES = process.env.SKETCHES ?? 'on'
const BATCH = 10_000
const TOKEN = 'bench-ingest-token-0123456789'
const SERVER = fileURLToPath(new URL('../../services/analytics/src/server.ts', import.meta.url))

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1)
const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0
const log = (line: string) => process.stdout.write(`${line}\n`)

async function timed(runs: number, fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  await fn() // warm: plans, caches
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    await fn()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { p50: quantile(times, 0.5), p95: quantile(times, 0.95) }
}

const PG = process.env.PG ?? 'shared'
const privatePg: PrivatePostgres | undefined =
  PG === 'private'
    ? await startPrivatePostgres({ settings: { shared_buffers: '2GB', fsync: 'on', max_wal_size: '4GB' } })
    : undefined
const databaseUrl = privatePg?.url ?? testUrls().databaseUrl
const schema = uniqueName('analytics_bench')
const admin = createSql({ url: databaseUrl, schema: 'public', max: 1 })
await admin.unsafe(`create schema "${schema}"`)
const db = {
  schema,
  drop: async () => {
    await admin.unsafe(`drop schema if exists "${schema}" cascade`)
    await admin.end({ timeout: 5 })
  },
}
const vhost = await createTestVhost('analytics_bench')
// The benchmark's own connections: no statement deadline (the raw queries and the loading take long).
const sql = createSql({ url: databaseUrl, schema, statementTimeoutMs: 0, max: 4 })
const env = {
  DATABASE_URL: databaseUrl,
  DB_SCHEMA: schema,
  AMQP_URL: vhost.amqpUrl,
  PORT: '0',
  LOG_LEVEL: 'info',
  ANALYTICS_INGEST_TOKEN: TOKEN,
}
let service: RunningProcess | undefined
let url = ''

async function startService() {
  service = startTsProcess(SERVER, env)
  await service.waitForOutput(/analytics listening on http:\/\/[\d.:]+/, 60_000)
  url = /analytics listening on (http:\/\/[\d.:]+)/.exec(service.output())?.[1] as string
}

const count = async (query: string) => Number((await sql.unsafe(query))[0]?.n)

/**
 * The consumer drains a backlog of `events`: published while the service is stopped (its queues exist), one event a
 * message or ACTIVITY_BATCH_MAX_EVENTS a message, then the service started. Events/s from its first commit to its
 * last (the inbox: a row per message), and the broker's publish rate in messages/s.
 */
async function drain(events: ActivityRecordedV1[], perMessage: number) {
  await service?.kill('SIGTERM')
  const broker = connectBroker({ url: vhost.amqpUrl, name: 'bench-feed' })
  const publisher = createPublisher(broker, { exchanges: [activityRecorded.exchange] })
  const bodies: (() => Promise<void>)[] = []
  for (let i = 0; i < events.length; i += perMessage) {
    const slice = events.slice(i, i + perMessage)
    bodies.push(() =>
      perMessage === 1
        ? publisher.publishMessage(activityRecorded, slice[0] as ActivityRecordedV1)
        : publisher.publishMessage(activityBatch, { events: slice }),
    )
  }
  const started = performance.now()
  for (let i = 0; i < bodies.length; i += 5000) await Promise.all(bodies.slice(i, i + 5000).map((b) => b()))
  const publish = bodies.length / ((performance.now() - started) / 1000)
  await publisher.close()
  await broker.close()
  const inbox = `select count(*)::int as n from inbox where consumer = 'analytics.activity'`
  const inboxBefore = await count(inbox)
  await startService()
  let firstAt = 0
  let firstCount = 0
  for (;;) {
    const n = (await count(inbox)) - inboxBefore
    if (n > 0 && firstAt === 0) {
      firstAt = performance.now()
      firstCount = n
    }
    if (n >= bodies.length) break
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    rate: ((bodies.length - firstCount) * perMessage) / ((performance.now() - firstAt) / 1000),
    publish,
  }
}

/** COPY, POST and the consumer (single events, batches), each of INGEST events of the same shape; events/s of each. */
async function ingestion(perUserDay: number) {
  const [viaHttp, viaConsumer, viaBatches, viaCopy] = ingestRows(INGEST, USERS, 4, perUserDay) as [
    ActivityRecordedV1[],
    ActivityRecordedV1[],
    ActivityRecordedV1[],
    ActivityRecordedV1[],
  ]
  const userDays = () => count('select count(*)::int as n from user_day')
  // What earlier writes left dirty is flushed now, not in the middle of one of the measurements.
  await sql`checkpoint`
  let started = performance.now()
  await copyRows(sql, viaCopy)
  const copy = INGEST / ((performance.now() - started) / 1000)

  const batches: ActivityRecordedV1[][] = []
  for (let i = 0; i < viaHttp.length; i += BATCH) batches.push(viaHttp.slice(i, i + BATCH))
  const userDaysBefore = await userDays()
  started = performance.now()
  let next = 0
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) {
        const batch = batches[next++] as ActivityRecordedV1[]
        const res = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: batch }),
        })
        if (res.status !== 200) throw new Error(`POST /v1/events: ${res.status} ${await res.text()}`)
        await res.json()
      }
    }),
  )
  const http = INGEST / ((performance.now() - started) / 1000)
  const afterHttp = await userDays()
  const singles = await drain(viaConsumer, 1)
  const afterSingles = await userDays()
  const batched = await drain(viaBatches, ACTIVITY_BATCH_MAX_EVENTS)
  const newUserDays = [afterHttp - userDaysBefore, afterSingles - afterHttp, (await userDays()) - afterSingles]
  return { copy, http, singles, batched, newUserDays }
}

try {
  log(
    `analytics benchmark: ${fmt(EVENTS)} events, ${fmt(USERS)} users, ${DAYS} days; ingestion ${fmt(INGEST)} events per way`,
  )
  await startService() // migrates the schema and makes the partitions
  if (SKETCHES === 'off') {
    // The service sees at start whether the table is there (rollup.ts hasSketches).
    await sql`drop table daily_user_sketches`
    await service?.kill('SIGTERM')
    await startService()
  }
  await sql`set maintenance_work_mem = '512MB'`

  let started = performance.now()
  const { first, last } = await generateHistory(sql, {
    events: EVENTS,
    users: USERS,
    days: DAYS,
    onChunk: (done, s) => log(`  generated ${fmt(done)} events (${s.toFixed(1)} s for the chunk)`),
  })
  const generateSeconds = (performance.now() - started) / 1000
  started = performance.now()
  const rebuilt = await rebuildRollups(sql, { schema: db.schema, maxEventAgeDays: 90 }, first, last)
  const rebuildSeconds = (performance.now() - started) / 1000
  started = performance.now()
  await sql`vacuum analyze events`
  await sql`vacuum analyze user_day`
  await sql`vacuum analyze daily_activity`
  await sql`checkpoint`
  const vacuumSeconds = (performance.now() - started) / 1000
  const sizes = await sql<{ name: string; bytes: string }[]>`
    select 'events' as name, sum(pg_total_relation_size(inhrelid))::text as bytes from pg_inherits
      where inhparent = 'events'::regclass
    union all select 'user_day', pg_total_relation_size('user_day')::text
    union all select 'user_activity', pg_total_relation_size('user_activity')::text
    union all select 'daily_activity', pg_total_relation_size('daily_activity')::text
    union all select 'daily_user_sketches', coalesce(pg_total_relation_size(to_regclass('daily_user_sketches')), 0)::text`
  log(
    `  data: generate_series ${generateSeconds.toFixed(0)} s, rollup rebuild ${rebuildSeconds.toFixed(0)} s ` +
      `(${fmt(rebuilt.userDays)} user days), vacuum analyze ${vacuumSeconds.toFixed(0)} s; ` +
      sizes.map((s) => `${s.name} ${fmt(Number(s.bytes) / 2 ** 20)} MiB`).join(', '),
  )

  // Queries: DAU of the last 30 days, retention of the day before yesterday.
  const to = last
  const from = new Date(Date.parse(`${to}T00:00:00Z`) - 29 * 86_400_000).toISOString().slice(0, 10)
  const day = new Date(Date.parse(`${to}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10)
  const repo = createAnalyticsRepository(sql)
  const api = (path: string) => async () => {
    const res = await fetch(`${url}${path}`)
    if (res.status !== 200) throw new Error(`${path}: ${res.status}`)
    await res.json()
  }
  const rows = [
    ['DAU, 30 days', 'API (HTTP, rollups)', await timed(API_RUNS, api(`/v1/analytics/dau?from=${from}&to=${to}`))],
    ['DAU, 30 days', 'rollup query alone', await timed(API_RUNS, () => repo.dau(from, to))],
    ['DAU, 30 days', 'raw query on events', await timed(RAW_RUNS, () => repo.raw.dau(from, to))],
    ['retention, 1 day', 'API (HTTP, rollups)', await timed(API_RUNS, api(`/v1/analytics/retention?day=${day}`))],
    ['retention, 1 day', 'rollup query alone', await timed(API_RUNS, () => repo.retention(day))],
    ['retention, 1 day', 'raw query on events', await timed(RAW_RUNS, () => repo.raw.retention(day))],
    [
      'WAU, 1 day',
      'API (HTTP, exact: user_day)',
      await timed(API_RUNS / 10, api(`/v1/analytics/active-users?day=${day}&window=7`)),
    ],
    ['WAU, 1 day', 'raw query on events', await timed(RAW_RUNS, () => repo.raw.activeUsers(day, 7))],
    [
      'MAU, 1 day',
      'API (HTTP, exact: user_day)',
      await timed(API_RUNS / 10, api(`/v1/analytics/active-users?day=${day}&window=30`)),
    ],
  ] as [string, string, { p50: number; p95: number }][]
  if (SKETCHES !== 'off') {
    for (const [query, window] of [
      ['WAU, 30 days', 7],
      ['MAU, 30 days', 30],
    ] as const) {
      const path = `/v1/analytics/active-users/estimates?from=${from}&to=${to}&window=${window}`
      rows.push([query, 'API (HTTP, estimates: sketches)', await timed(API_RUNS, api(path))])
    }
  }
  // The estimates' error against the exact counts, on the day of the exact rows.
  const estimateError = async (window: number) => {
    const exact = await repo.activeUsers(day, window)
    if (SKETCHES === 'off') return `${fmt(exact)} (no sketches)`
    const [estimate] = await repo.activeUserEstimates(day, day, window)
    const error = (((estimate?.users ?? 0) - exact) / exact) * 100
    return `${fmt(estimate?.users ?? 0)} estimated for ${fmt(exact)} exact (${error.toFixed(2)}%)`
  }
  const errors = { wau: await estimateError(7), mau: await estimateError(30) }
  // The answers agree, or the figures mean nothing.
  const [apiDau, rawDau] = [await repo.dau(from, to), await repo.raw.dau(from, to)]
  const apiRetention = await repo.retention(day)
  const rawRetention = await repo.raw.retention(day)
  const agree =
    JSON.stringify(apiDau) === JSON.stringify(rawDau) && JSON.stringify(apiRetention) === JSON.stringify(rawRetention)

  log('')
  log(`| query | answered by | p50 ms | p95 ms | runs |`)
  log(`| --- | --- | --- | --- | --- |`)
  for (const [query, by, t] of rows) {
    const runs = by.startsWith('raw') ? RAW_RUNS : by.includes('exact') ? API_RUNS / 10 : API_RUNS
    log(`| ${query} | ${by} | ${ms(t.p50)} | ${ms(t.p95)} | ${runs} |`)
  }
  /** How many times faster the API (row i) is than the raw query (row i + 2), at p50 and at p95. */
  const speedup = (i: number) => {
    const [apiTimes, rawTimes] = [rows[i]?.[2], rows[i + 2]?.[2]]
    if (!apiTimes || !rawTimes) return '?'
    return `${(rawTimes.p50 / apiTimes.p50).toFixed(0)}x at p50, ${(rawTimes.p95 / apiTimes.p95).toFixed(0)}x at p95`
  }
  log(
    `DAU ${fmt(rawDau.reduce((s, d) => s + d.users, 0) / rawDau.length)} users/day on average; ` +
      `retention of ${day}: ${fmt(rawRetention.active)} active, ${fmt(rawRetention.returning)} returning; ` +
      `rollups ${agree ? 'equal' : 'DIFFER FROM'} the raw answers; the API is ${speedup(0)} (DAU) and ` +
      `${speedup(3)} (retention) faster than the raw queries`,
  )
  log(`weekly active users of ${day}: ${errors.wau}; monthly: ${errors.mau}`)

  // Ingestion, for two shapes of traffic: four sets of rows of one shape, one per way in.
  log('')
  log(`| events per user day | way in | events/s | of COPY |`)
  log(`| --- | --- | --- | --- |`)
  for (const perUserDay of [1, 10]) {
    const r = await ingestion(perUserDay)
    log(`| ${perUserDay} | COPY into events (baseline) | ${fmt(r.copy)} | 1.00 |`)
    log(
      `| ${perUserDay} | POST /v1/events, ${fmt(BATCH)} per request, ${CONCURRENCY} at once | ${fmt(r.http)} | ${(r.http / r.copy).toFixed(2)} |`,
    )
    log(
      `| ${perUserDay} | activity consumer, backlog of single-event messages | ${fmt(r.singles.rate)} | ${(r.singles.rate / r.copy).toFixed(2)} |`,
    )
    log(
      `| ${perUserDay} | activity consumer, backlog of activity.batch.v1 (${fmt(ACTIVITY_BATCH_MAX_EVENTS)} events each) | ${fmt(r.batched.rate)} | ${(r.batched.rate / r.copy).toFixed(2)} |`,
    )
    log(
      `(${perUserDay}: published to RabbitMQ at ${fmt(r.singles.publish)} single-event and ${fmt(r.batched.publish)} batch messages/s; ` +
        `new user days: POST ${fmt(r.newUserDays[0] ?? 0)}, singles ${fmt(r.newUserDays[1] ?? 0)}, batches ${fmt(r.newUserDays[2] ?? 0)})`,
    )
  }
  log(`events stored in total: ${fmt(await count('select count(*)::int as n from events'))}`)
} finally {
  await service?.kill('SIGKILL')
  await sql.end({ timeout: 5 })
  await db.drop()
  await vhost.delete()
  await privatePg?.stop()
}
