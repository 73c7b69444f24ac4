/**
 * The outbox benchmark's producer (a process of its own, so its CPU is not the relay's): once connected it prints
 * "ready", commits BATCH rows shaped like ingest's webhook.received messages, RATE rows a second for SECONDS, prints
 * "produced <n>", then waits to be stopped (its CPU is read while it is alive).
 */
import { createSql } from '@platform/db'
import { testUrls } from '@platform/testing'

const RATE = Number(process.env.RATE ?? 4000)
const SECONDS = Number(process.env.SECONDS ?? 15)
const BATCH = Number(process.env.BATCH ?? 30)
const sql = createSql({
  url: testUrls().databaseUrl,
  schema: process.env.DB_SCHEMA as string,
  applicationName: 'producer',
})
const body = JSON.stringify({
  id: '7c1f5a54-6f1e-4a55-9a55-0c1b1f0b1f0b',
  source: 'payment',
  eventId: 'evt_5d3c8e2a-8f43-4b55-a2c1-6a2b3c4d5e6f',
  eventType: 'charge.succeeded',
  format: 'stripe',
  receivedAt: new Date().toISOString(),
  payload: {
    id: 'evt_5d3c8e2a-8f43-4b55-a2c1-6a2b3c4d5e6f',
    type: 'charge.succeeded',
    created: 1700000000,
    data: { object: { id: 'ch_5d3c8e2a8f434b55', amount: 1000, currency: 'eur', metadata: { order_id: 'o_1' } } },
  },
})
await sql`select 1`
console.log('ready')
const started = performance.now()
let produced = 0
while (performance.now() - started < SECONDS * 1000) {
  if (produced < ((performance.now() - started) / 1000) * RATE) {
    await sql`
      insert into outbox (message_id, exchange, routing_key, type, body, correlation_id, bucket)
      select gen_random_uuid(), 'webhooks', 'webhook.payment.charge.succeeded', 'webhook.received.v1', ${body}::json,
        gen_random_uuid()::text, floor(random() * 16)::int
      from generate_series(1, ${BATCH})`
    produced += BATCH
  } else await new Promise((resolve) => setTimeout(resolve, 1))
}
console.log(`produced ${produced}`)
process.once('SIGTERM', () => sql.end().then(() => process.exit(0)))
setInterval(() => {}, 60_000)
