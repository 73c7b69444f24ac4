/**
 * Outbox relay benchmark: what publishing one outbox row costs when the relay keeps up with a steady producer, beside
 * two baselines measured in the same run:
 *   - the producer alone (no relay), what writing the rows costs, and then one relay draining that backlog in full
 *     batches (the cheapest a row gets published);
 *   - a relay that claims after every producer commit (minClaimIntervalMs 0), as the relay did before
 *     MIN_CLAIM_INTERVAL_MS.
 * The producer commits BATCH rows at a time, RATE rows a second (ingest's group commits at saturation: ~30 rows,
 * ~150 commits a second), in a process of its own; the relay runs in this one. CPU is the whole machine's, per row.
 *
 *   node --import tsx loadtest/outbox/bench.ts   (RATE=4000, SECONDS=15, BATCH=30)
 */
import { fileURLToPath } from 'node:url'
import { exchanges } from '@platform/contracts'
import { createSql, migrate } from '@platform/db'
import { createLogger } from '@platform/logging'
import { connectBroker, createPublisher, declareExchanges } from '@platform/messaging'
import { createRegistry } from '@platform/metrics'
import { createOutboxRelay, MIN_CLAIM_INTERVAL_MS, outboxMigrations } from '@platform/outbox'
import { createTestSchema, createTestVhost, startTsProcess, testUrls, waitFor } from '@platform/testing'
import { measureCpu, perUnit } from '../lib/machine-cpu.js'
import { sampleValue } from '../lib/prometheus.js'

const RATE = Number(process.env.RATE ?? 4000)
const SECONDS = Number(process.env.SECONDS ?? 15)
const BATCH = Number(process.env.BATCH ?? 30)

const schema = await createTestSchema('bench_outbox')
const vhost = await createTestVhost('bench_outbox')
const sql = createSql({ url: testUrls().databaseUrl, schema: schema.schema, applicationName: 'relay' })
const logger = createLogger({ service: 'bench-outbox', level: 'warn' })
const broker = connectBroker({ url: vhost.amqpUrl, name: 'bench-outbox', logger })
const publisher = createPublisher(broker)

const left = async () => (await sql<{ n: number }[]>`select count(*)::int as n from outbox`)[0]?.n ?? 0
const claimsOf = async (registry: ReturnType<typeof createRegistry>) =>
  sampleValue(await registry.metrics(), 'outbox_claims_total')

/** Runs the producer to its end; with `relay`, also until the relay has published everything. */
async function phase(minClaimIntervalMs: number | undefined) {
  const registry = createRegistry({ service: 'bench-outbox' })
  const relay =
    minClaimIntervalMs === undefined
      ? undefined
      : createOutboxRelay({ sql, schema: schema.schema, publisher, logger, registry, minClaimIntervalMs })
  await relay?.start()
  const producer = startTsProcess(fileURLToPath(new URL('./producer.ts', import.meta.url)), {
    DB_SCHEMA: schema.schema,
    RATE: String(RATE),
    SECONDS: String(SECONDS),
    BATCH: String(BATCH),
  })
  try {
    await producer.waitForOutput(/^ready$/m, 60_000)
    const cpu = measureCpu({ producer: [producer.child.pid] })
    await producer.waitForOutput(/produced \d+/, (SECONDS + 60) * 1000)
    if (relay)
      await waitFor(async () => (await left()) === 0, { timeoutMs: 120_000, intervalMs: 20, message: 'published' })
    const used = cpu.stop()
    const rows = Number(/produced (\d+)/.exec(producer.output())?.[1])
    return { rows, used, claims: await claimsOf(registry) }
  } finally {
    await relay?.stop()
    await producer.kill('SIGTERM')
  }
}

try {
  await migrate(sql, { schema: schema.schema, migrations: outboxMigrations })
  await publisher.channel.addSetup((ch: Parameters<typeof declareExchanges>[0]) =>
    declareExchanges(ch, [exchanges.webhooks]),
  )
  console.log(`outbox relay benchmark: a producer commits ${BATCH} rows at a time, ${RATE} rows/s for ${SECONDS} s`)

  const alone = await phase(undefined)
  const registry = createRegistry({ service: 'bench-outbox' })
  const drainer = createOutboxRelay({ sql, schema: schema.schema, publisher, logger, registry })
  const cpu = measureCpu()
  const drained = await drainer.drain()
  const drainCpu = cpu.stop()
  const drainClaims = await claimsOf(registry)
  await sql`vacuum outbox`

  const eager = await phase(0)
  await sql`vacuum outbox`
  const paced = await phase(MIN_CLAIM_INTERVAL_MS)

  const row = (cells: (string | number)[]) => cells.map((c, i) => String(c).padEnd(i === 0 ? 48 : 16)).join('')
  console.log(`\n${row(['', 'rows', 'rows per claim', 'machine CPU per row (all processes and the kernel)'])}`)
  console.log(row(['producer alone (no relay)', alone.rows, '-', perUnit(alone.used, alone.rows)]))
  console.log(
    row(['one relay draining that backlog', drained, (drained / drainClaims).toFixed(0), perUnit(drainCpu, drained)]),
  )
  console.log(
    row([
      'relay claiming after every commit',
      eager.rows,
      (eager.rows / eager.claims).toFixed(0),
      perUnit(eager.used, eager.rows),
    ]),
  )
  console.log(
    row([
      `relay, ${MIN_CLAIM_INTERVAL_MS} ms between partial claims (default)`,
      paced.rows,
      (paced.rows / paced.claims).toFixed(0),
      perUnit(paced.used, paced.rows),
    ]),
  )
  console.log(
    '\n"benchmark" is this process: the relay. Its PostgreSQL backend is under "postgres", with the producer\'s.',
  )
} finally {
  await publisher.close()
  await broker.close()
  await sql.end()
  await Promise.allSettled([schema.drop(), vhost.delete()])
}
