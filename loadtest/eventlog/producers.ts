/**
 * Producers (and optionally relays) alone: recordMany into a fresh outbox, events/s; for profiling the write path.
 *   node --import tsx eventlog/producers.ts   (EVENTS=100000 RELAYS=0 PER_TX=100 ALTER="compression lz4")
 */

import { eventLogRows } from '@platform/contracts'
import { migrate } from '@platform/db'
import { createEventLog } from '@platform/eventlog'
import { recordConcurrently } from '@platform/eventlog/testing'
import { createLogger } from '@platform/logging'
import { connectBroker, createPublisher, declareExchanges } from '@platform/messaging'
import { createOutboxRelay, outboxMigrations } from '@platform/outbox'
import { createTestSchema, createTestVhost } from '@platform/testing'
import { contextOf } from './sample.js'

const EVENTS = Number(process.env.EVENTS ?? 100_000)
const RELAYS = Number(process.env.RELAYS ?? 0)
let claims = 0
let rows = 0
const logger = createLogger({ service: 'eventlog-bench', level: 'warn' })
const db = await createTestSchema('bench_prodonly')
const vhost = await createTestVhost('bench_prodonly')
const broker = connectBroker({ url: vhost.amqpUrl, name: 'bench-producer' })
const publisher = createPublisher(broker)
// Relayed messages are routed nowhere (no queue): this measures the producers and relays, not the broker's storage.
const setup = broker.createChannel({
  name: 'bench-setup',
  setup: (ch: Parameters<typeof declareExchanges>[0]) => declareExchanges(ch, [eventLogRows.exchange]),
})
await setup.waitForConnect()
try {
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
  if (process.env.ALTER) await db.sql.unsafe(`alter table outbox alter column body set ${process.env.ALTER}`)
  const relays = Array.from({ length: RELAYS }, () =>
    createOutboxRelay({
      sql: db.sql,
      schema: db.schema,
      publisher,
      logger,
      batchSize: 1000,
      afterPublish: (ids) => {
        claims++
        rows += ids.length
      },
    }),
  )
  await Promise.all(relays.map((r) => r.start()))
  const eventLog = createEventLog({ service: 'bench', environment: 'bench' })
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    await recordConcurrently(db.sql, eventLog, {
      count: EVENTS,
      entry: (i) => ({ eventType: 'order.paid', context: contextOf(i) }),
      producers: 8,
      perTx: Number(process.env.PER_TX ?? 100),
    })
    const producersAt = performance.now()
    if (relays[0]) await relays[0].drain()
    const cpu = process.cpuUsage(cpu0)
    const s = (ms: number) => (ms / 1000).toFixed(2)
    console.log(
      `producers ${Math.round(EVENTS / ((producersAt - t0) / 1000))} events/s, ` +
        `until relayed ${s(performance.now() - t0)} s, node cpu ${s((cpu.user + cpu.system) / 1000)} s, ${claims} claims of ${rows} rows`,
    )
    await db.sql`truncate outbox`
    claims = 0
    rows = 0
  }
  await Promise.all(relays.map((r) => r.stop()))
} finally {
  await setup.close()
  await publisher.close()
  await broker.close()
  await vhost.delete()
  await db.drop()
}
