/**
 * Event log throughput, in one run on one machine:
 *   end to end  events recorded in PostgreSQL transactions (outbox) -> relay -> RabbitMQ -> log-shipper -> ClickHouse,
 *               events/s from the first record to the last row visible, and each event's delay from its commit
 *               to the moment ClickHouse accepted its row (p50/p99/max). Twice: bulk producers (recordMany, PER_TX
 *               events per transaction, travelling as rows messages) and business-code producers (record(), one
 *               event per transaction, one message per event);
 *   bulk        the same rows (built from the same contexts) inserted straight into ClickHouse in 10,000-row batches
 *               back to back: the baseline of the target; the same rows as JSONEachRow bytes serialised beforehand
 *               (ClickHouse alone, for reference); and PER_TX-row inserts (what producers would get writing their own
 *               transactions' rows directly);
 *   row by row  single-row inserts, the old way (timed on ROW_BY_ROW rows and extrapolated).
 * Targets (issue 4): end to end >= 1/2 of bulk, >= 100x row by row.
 *
 *   node --import tsx loadtest/eventlog/bench.ts
 *   (EVENTS=1000000 PER_TX=1000 PRODUCERS=8 PRODUCER_PROCESSES=1 SINGLE_EVENTS=20000 ROW_BY_ROW=300 RELAYS=2
 *    SHIPPER_NODE_ARGS=...)
 *
 * Sizes: 1,000,000 events, so the rate is the pipeline's steady state: the last rows of a run wait for the shipper's
 * 1 s time flush, a second that a run of 500,000 events (~5 s) spent a fifth of its time in; 1,000 events per
 * transaction, a bulk producer's transaction (recordMany's purpose). PER_TX=100 measures the per-transaction cost
 * instead: three PostgreSQL round trips per transaction then dominate (docs/eventlog.md#performance).
 *
 * Uses the local PostgreSQL, RabbitMQ and ClickHouse, each in a database/schema/vhost of its own, dropped at the end.
 * Producers and outbox relays run in this process (PRODUCER_PROCESSES=2: the producers in processes of their own,
 * producer-process.ts); the log-shipper runs in a process of its own (shipper-process.ts,
 * production defaults: 10,000 rows / 1 s / 16 MiB, prefetch 20,000), as in production, so the two use separate cores.
 *
 * The delay: every event of a transaction shares its commit time (taken here after the commit). The shipper process
 * prints the time of each insert ClickHouse accepted with the first event id of each part of the batch (a rows
 * message: its first event id and row count; a single event: its id), and each event of that part counts the delay
 * accepted - committed. A rows message never spans transactions, so its rows share their commit time too. Both
 * times come from the machine's clock (performance.timeOrigin + performance.now() in each process).
 */
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { loadMigrations, migrate } from '@platform/db'
import type { EventLogRow } from '@platform/eventlog'
import { clickhouseDateTime, createEventLog, ensureClaimCheckStore } from '@platform/eventlog'
import { createTestClickHouseDatabase, inSlices, recordConcurrently } from '@platform/eventlog/testing'
import { createLogger } from '@platform/logging'
import { connectBroker, createPublisher } from '@platform/messaging'
import { createOutboxRelay, outboxMigrations } from '@platform/outbox'
import { createTestSchema, createTestVhost, type RunningProcess, startTsProcess, testUrls } from '@platform/testing'
import { createClickHouseClient } from '../../services/log-shipper/src/clickhouse-client.js'
import {
  clickhouseMigrationsDir,
  loadClickHouseMigrations,
  migrateClickHouse,
} from '../../services/log-shipper/src/clickhouse-migrations.js'
import { createClickHouseSink } from '../../services/log-shipper/src/clickhouse-sink.js'
import { rowsBatch, sinkBatch } from '../../services/log-shipper/src/sink.js'
import { cpuCeiling, measureCpu, perUnit } from '../lib/machine-cpu.js'
import { contextOf } from './sample.js'

const EVENTS = Number(process.env.EVENTS ?? 1_000_000)
const PRODUCERS = Number(process.env.PRODUCERS ?? 8)
const PER_TX = Number(process.env.PER_TX ?? 1000)
const ROW_BY_ROW = Number(process.env.ROW_BY_ROW ?? 300)
const RELAYS = Number(process.env.RELAYS ?? 2)
const SINGLE_EVENTS = Number(process.env.SINGLE_EVENTS ?? 20_000)
/** recordMany's producers run in this many processes of their own (1: in the benchmark's process, with the relays). */
const PRODUCER_PROCESSES = Number(process.env.PRODUCER_PROCESSES ?? 1)
const logger = createLogger({ service: 'eventlog-bench', level: 'warn' })

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/** Calls `onLine` with the words of each whole line a child process prints on stdout. */
function onWords(child: RunningProcess, onLine: (words: string[]) => void) {
  let pending = ''
  child.child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) onLine(line.split(' '))
  })
}

const ch = await createTestClickHouseDatabase('bench')
const shipperDb = await createTestSchema('bench_ship')
const producerDb = await createTestSchema('bench_prod')
const vhost = await createTestVhost('bench')
const clickhouse = createClickHouseClient({ url: testUrls().clickhouseUrl, database: ch.database })

try {
  await migrate(shipperDb.sql, {
    schema: shipperDb.schema,
    migrations: await loadMigrations(new URL('../../services/log-shipper/migrations/', import.meta.url)),
  })
  await ensureClaimCheckStore(shipperDb.sql)
  await migrateClickHouse({
    client: clickhouse,
    sql: shipperDb.sql,
    database: ch.database,
    migrations: await loadClickHouseMigrations(clickhouseMigrationsDir),
  })
  await migrate(producerDb.sql, { schema: producerDb.schema, migrations: outboxMigrations })
  for (const table of ['event_log_bulk', 'event_log_rows']) {
    await clickhouse.command({ query: `CREATE TABLE ${table} AS event_log` })
  }

  // --- row by row: the old way -------------------------------------------------------------------------------
  // The time formatted once a second, as recordMany does.
  let second = 0
  let secondText = ''
  const dateTime = () => {
    const s = Math.floor(Date.now() / 1000)
    if (s !== second) [second, secondText] = [s, clickhouseDateTime(new Date(s * 1000))]
    return secondText
  }
  const sample = (i: number, table: string): EventLogRow => ({
    event_id: crypto.randomUUID(),
    service: 'bench',
    event_type: `bench.${table}`,
    event_date_time: dateTime(),
    environment: 'bench',
    event_context: JSON.stringify(contextOf(i)),
    metadata_version: 1,
  })
  const rowSink = createClickHouseSink(clickhouse, { table: 'event_log_rows' })
  const started = performance.now()
  for (let i = 0; i < ROW_BY_ROW; i++) await rowSink.insert(rowsBatch([sample(i, 'rows')]))
  const rowByRowRate = ROW_BY_ROW / ((performance.now() - started) / 1000)

  /**
   * The direct inserts, each building its rows from the same contexts as the producers do (contextOf) and inserting
   * them back to back, so ClickHouse gets no idle time between inserts that the pipeline would not get either.
   * Rows are built as they are inserted: with all EVENTS row objects built up front, every collection during the
   * serialisation marked them (106,000 rows/s at 1,000,000 rows against ~190,000 at 500,000), and they would stay in
   * this process's heap for the end-to-end run, whose producers share it. Building a row (an id, its context's JSON)
   * is what the producers do in the end-to-end timing too.
   */
  async function directInserts() {
    const bulkSink = createClickHouseSink(clickhouse, { table: 'event_log_bulk' })
    const rowsFrom = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => sample(from + k, 'bulk'))
    // --- direct bulk: the same number of rows, 10,000 per insert (the baseline of the target) ---------------------
    let started = performance.now()
    let cpu = measureCpu()
    for (let from = 0; from < EVENTS; from += 10_000) {
      await bulkSink.insert(rowsBatch(rowsFrom(from, Math.min(from + 10_000, EVENTS))))
    }
    const bulkCpu = cpu.stop()
    const bulkRate = EVENTS / ((performance.now() - started) / 1000)

    // --- ClickHouse alone: the same rows as JSONEachRow bytes serialised beforehand, 10,000 per insert --------------
    const serialised: { json: Buffer; count: number }[] = []
    for (let from = 0; from < EVENTS; from += 10_000) {
      const batch = rowsBatch(rowsFrom(from, Math.min(from + 10_000, EVENTS)))
      serialised.push({ json: batch.jsonEachRow(), count: batch.count })
    }
    started = performance.now()
    cpu = measureCpu()
    for (const part of serialised) await bulkSink.insert(sinkBatch([part]))
    const bytesCpu = cpu.stop()
    const bytesRate = EVENTS / ((performance.now() - started) / 1000)

    // --- direct, at the producers' granularity: each transaction's rows inserted by the producer itself ------------
    started = performance.now()
    await inSlices(EVENTS, PER_TX, PRODUCERS, (from, to) => bulkSink.insert(rowsBatch(rowsFrom(from, to))))
    const perTxRate = EVENTS / ((performance.now() - started) / 1000)
    return { bulkCpu, bulkRate, bytesCpu, bytesRate, perTxRate }
  }
  const { bulkCpu, bulkRate, bytesCpu, bytesRate, perTxRate } = await directInserts()

  // --- end to end: the shipper process with its production defaults, producers recording in transactions ---------
  const now = () => performance.timeOrigin + performance.now()
  /**
   * What a run collects while it is timed: one entry per transaction and one per part the shipper reported, nothing
   * per event (a map of every event id, filled as the producers commit, cost the benchmark's thread ~1 µs per event
   * and grew the heap the collector walks). Delays are matched after the run (delaysOf).
   */
  const newRun = () => ({
    commits: [] as { at: number; ids: string[] }[],
    parts: [] as { id: string; rows: number; at: number }[],
    accepted: 0,
    lastAcceptedAt: 0,
  })
  /** Each event's delay from its transaction's commit to the insert that ClickHouse accepted, sorted. */
  function delaysOf(r: ReturnType<typeof newRun>): number[] {
    const committedAt = new Map<string, number>()
    for (const { at, ids } of r.commits) for (const id of ids) committedAt.set(id, at)
    const delays: number[] = []
    for (const { id, rows, at } of r.parts) {
      const committed = committedAt.get(id)
      if (committed !== undefined) for (let k = rows; k > 0; k--) delays.push(at - committed)
    }
    return delays.sort((a, b) => a - b)
  }
  let run = newRun()
  /** Starts the shipper process; resolves when it starts consuming, with that time and a promise of its readiness. */
  async function startShipper(): Promise<{ process: RunningProcess; startedAt: number; ready: Promise<void> }> {
    const child = startTsProcess(
      fileURLToPath(new URL('./shipper-process.ts', import.meta.url)),
      {
        DATABASE_URL: testUrls().databaseUrl,
        DB_SCHEMA: shipperDb.schema,
        AMQP_URL: vhost.amqpUrl,
        CLICKHOUSE_URL: testUrls().clickhouseUrl,
        CLICKHOUSE_DATABASE: ch.database,
      },
      // e.g. SHIPPER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/shipper-prof" to profile the shipper process
      process.env.SHIPPER_NODE_ARGS?.split(' ').filter(Boolean),
    )
    onWords(child, ([word, at, ...parts]) => {
      if (word !== 'accepted') return
      for (const part of parts) {
        const [id = '', rows] = part.split(':')
        run.parts.push({ id, rows: Number(rows), at: Number(at) })
        run.accepted += Number(rows)
        run.lastAcceptedAt = Number(at)
      }
    })
    await child.waitForOutput(/^starting \S+$/m, 60_000)
    const startedAt = Number(/^starting (\S+)$/m.exec(child.output())?.[1])
    return { process: child, startedAt, ready: child.waitForOutput(/^ready$/m, 60_000) }
  }
  let shipper = await startShipper()
  await shipper.ready
  const cpuGroups = () => ({ shipper: [shipper.process.child.pid] })
  const broker = connectBroker({ url: vhost.amqpUrl, name: 'bench-producer' })
  const publisher = createPublisher(broker)
  const relays = Array.from({ length: RELAYS }, () =>
    createOutboxRelay({ sql: producerDb.sql, schema: producerDb.schema, publisher, logger, batchSize: 1000 }),
  )
  await Promise.all(relays.map((r) => r.start()))
  const eventLog = createEventLog({ service: 'bench', environment: 'bench' })

  /** PRODUCERS concurrent writers record `events` in transactions of `perTx` (recordMany, or record() each). */
  const recordAll = (events: number, perTx: number, oneByOne: boolean) =>
    recordConcurrently(producerDb.sql, eventLog, {
      count: events,
      entry: (i) => ({ eventType: 'order.paid', context: contextOf(i) }),
      producers: PRODUCERS,
      perTx,
      oneByOne,
      onCommit: (ids) => {
        run.commits.push({ at: now(), ids })
      },
    })

  /**
   * recordMany's producers in PRODUCER_PROCESSES processes of their own (producer-process.ts), PRODUCERS writers in
   * all: started and connected before the timing starts, recording from `go()`; their commits are reported through
   * their stdout.
   */
  async function producerProcesses(events: number, perTx: number) {
    const share = Math.ceil(events / PRODUCER_PROCESSES)
    const children = Array.from({ length: PRODUCER_PROCESSES }, (_, p) => {
      const child = startTsProcess(fileURLToPath(new URL('./producer-process.ts', import.meta.url)), {
        DATABASE_URL: testUrls().databaseUrl,
        DB_SCHEMA: producerDb.schema,
        EVENTS: String(Math.min(share, events - p * share)),
        FROM: String(p * share),
        PER_TX: String(perTx),
        PRODUCERS: String(Math.max(1, Math.round(PRODUCERS / PRODUCER_PROCESSES))),
      })
      onWords(child, ([word, at, ...ids]) => {
        if (word === 'committed') run.commits.push({ at: Number(at), ids })
      })
      return child
    })
    await Promise.all(children.map((c) => c.waitForOutput(/^ready$/m, 60_000)))
    return {
      pids: children.map((c) => c.child.pid),
      async record() {
        for (const c of children) c.child.kill('SIGUSR2')
        await Promise.all(children.map((c) => c.waitForOutput(/^done$/m, 600_000)))
      },
      stop: () => Promise.all(children.map((c) => c.kill('SIGTERM'))),
    }
  }

  /** Records `events` and waits until all of them are in ClickHouse. */
  async function endToEnd(events: number, perTx: number, oneByOne: boolean, record?: () => Promise<unknown>) {
    run = newRun()
    const t0 = now()
    await (record ? record() : recordAll(events, perTx, oneByOne))
    const recordedIn = now() - t0
    while (run.accepted < events) await new Promise((r) => setTimeout(r, 20))
    const delays = delaysOf(run)
    return {
      rate: events / ((run.lastAcceptedAt - t0) / 1000),
      producers: events / (recordedIn / 1000),
      p50: quantile(delays, 0.5),
      p99: quantile(delays, 0.99),
      max: delays.at(-1) ?? 0,
      measured: delays.length,
    }
  }

  const producers = PRODUCER_PROCESSES > 1 ? await producerProcesses(EVENTS, PER_TX) : undefined
  let cpu = measureCpu({ ...cpuGroups(), ...(producers ? { producers: producers.pids } : {}) })
  const bulky = await endToEnd(EVENTS, PER_TX, false, producers?.record)
  const bulkyCpu = cpu.stop()
  await producers?.stop()
  if (bulky.measured < EVENTS) console.warn(`delays measured for ${bulky.measured} of ${EVENTS} events only`)
  const single = await endToEnd(SINGLE_EVENTS, 1, true)

  // --- the shipper alone: a backlog of EVENTS (rows messages) waiting in RabbitMQ, drained by a new process ---------
  await shipper.process.kill('SIGTERM')
  run = newRun()
  const backlog = await recordAll(EVENTS, PER_TX, false)
  await relays[0]?.drain()
  run.commits.push({ at: 0, ids: backlog })
  shipper = await startShipper()
  cpu = measureCpu(cpuGroups())
  await shipper.ready
  while (run.accepted < EVENTS) await new Promise((r) => setTimeout(r, 20))
  const drainCpu = cpu.stop()
  const drainRate = EVENTS / ((run.lastAcceptedAt - shipper.startedAt) / 1000)
  const [final] = await (
    await clickhouse.query({
      query: 'SELECT count() AS n, uniqExact(event_id) AS u FROM event_log FINAL',
      format: 'JSONEachRow',
    })
  ).json<{ n: string; u: string }>()

  await Promise.all(relays.map((r) => r.stop()))
  await shipper.process.kill('SIGTERM')
  await publisher.close()
  await broker.close()

  const delay = (r: typeof bulky) => `p50 ${fmt(r.p50)} ms, p99 ${fmt(r.p99)} ms, max ${fmt(r.max)} ms`
  const rows: [string, string, string][] = [
    [
      'end to end, recordMany (rows messages)',
      fmt(bulky.rate),
      `${fmt(EVENTS)} events, ${PER_TX}/tx, ${PRODUCERS} producers${PRODUCER_PROCESSES > 1 ? ` in ${PRODUCER_PROCESSES} processes` : ''}`,
    ],
    ['  delay commit -> row in ClickHouse', '', delay(bulky)],
    ['  producers alone (record + commit)', fmt(bulky.producers), 'PostgreSQL only, same run'],
    ['end to end, record() 1 event/tx', fmt(single.rate), `${fmt(SINGLE_EVENTS)} events, one message each`],
    ['  delay commit -> row in ClickHouse', '', delay(single)],
    ['shipper alone, draining a backlog', fmt(drainRate), `${fmt(EVENTS)} events waiting in RabbitMQ`],
    ['direct bulk insert, 10,000 rows/insert', fmt(bulkRate), 'baseline: rows built, serialised, inserted'],
    ['  ClickHouse alone, same rows as bytes', fmt(bytesRate), 'JSONEachRow serialised beforehand'],
    ['direct insert, one per transaction', fmt(perTxRate), `${PER_TX} rows/insert, ${PRODUCERS} concurrent`],
    ['row by row, 1 row/insert', fmt(rowByRowRate), `${ROW_BY_ROW} inserts, extrapolated`],
  ]
  const version = await clickhouse.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })
  console.log(`\nevent log to ClickHouse ${(await version.json<{ v: string }>())[0]?.v}, ${os.cpus().length} cores`)
  console.log(`${'path'.padEnd(40)}${'events/s'.padStart(10)}  notes`)
  for (const [name, value, note] of rows) console.log(`${name.padEnd(40)}${value.padStart(10)}  ${note}`)
  console.log(
    `\nend to end (recordMany) / direct bulk = ${(bulky.rate / bulkRate).toFixed(2)} (target >= 0.5); ` +
      `/ row by row = ${fmt(bulky.rate / rowByRowRate)}x (target >= 100x); ` +
      `end to end (record) / row by row = ${fmt(single.rate / rowByRowRate)}x; ` +
      `shipper alone / direct bulk = ${(drainRate / bulkRate).toFixed(2)}; ` +
      `ClickHouse (FINAL): ${final?.n} rows, ${final?.u} distinct of ${2 * EVENTS + SINGLE_EVENTS}`,
  )
  console.log(
    '\nmachine CPU per event (all processes and the kernel; benchmark = this process: relays, and producers unless in processes of their own; shipper = its process):',
  )
  console.log(`  end to end, recordMany     ${perUnit(bulkyCpu, EVENTS)}`)
  console.log(`  shipper alone              ${perUnit(drainCpu, EVENTS)}`)
  console.log(`  direct bulk insert         ${perUnit(bulkCpu, EVENTS)}`)
  console.log(`  ClickHouse alone (bytes)   ${perUnit(bytesCpu, EVENTS)}`)
  console.log(
    `  at these costs this machine could sustain ${fmt(cpuCeiling(bulkyCpu, EVENTS))} events/s end to end and ` +
      `${fmt(cpuCeiling(bulkCpu, EVENTS))} by direct bulk insert with every core busy`,
  )
} finally {
  await clickhouse.close()
  await vhost.delete()
  await producerDb.drop()
  await shipperDb.drop()
  await ch.drop()
}
