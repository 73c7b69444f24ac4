import { Writable } from 'node:stream'
import { migrate } from '@platform/db'
import { createLogger, currentCorrelationId, runWithContext } from '@platform/logging'
import { defineConsumer, defineExchange, startConsumer } from '@platform/messaging'
import { openTestBroker, type TestBroker } from '@platform/messaging/testing'
import { createTestSchema, type TestSchema, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createOutboxRelay, enqueue, outboxMigrations } from '../index.js'

const exchange = defineExchange('corr')
let db: TestSchema
let rabbit: TestBroker

beforeAll(async () => {
  db = await createTestSchema('corr')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
  rabbit = await openTestBroker('corr', { exchanges: [exchange] })
})

afterAll(async () => {
  await rabbit?.close()
  await db?.drop()
})

describe('correlation id', () => {
  it('travels from the request context through the outbox row and the message into the consumer logs', async () => {
    const lines: Record<string, unknown>[] = []
    const logger = createLogger({
      service: 'consumer',
      destination: new Writable({
        write(chunk, _e, done) {
          lines.push(JSON.parse(chunk.toString()))
          done()
        },
      }),
    })
    const seen: { fromMessage: string; fromContext: string | undefined }[] = []
    const consumer = startConsumer(rabbit.broker, {
      def: defineConsumer({
        queue: 'corr.work',
        bindings: [{ exchange, routingKey: '#' }],
        retry: { delaysMs: [100], maxAttempts: 2 },
      }),
      logger,
      handler: async (m) => {
        seen.push({ fromMessage: m.correlationId, fromContext: currentCorrelationId() })
        logger.info('handled')
      },
    })
    await consumer.ready()
    // What an HTTP request does: the app runs the handler inside the request's correlation context.
    await runWithContext({ correlationId: 'req-7f3a' }, () =>
      db.sql.begin((tx) => enqueue(tx, { exchange: exchange.name, routingKey: 'x', body: { ok: true } })),
    )
    const rows = await db.sql`select correlation_id from outbox`
    expect(rows.map((r) => r.correlation_id)).toEqual(['req-7f3a'])
    const relay = createOutboxRelay({ sql: db.sql, schema: db.schema, publisher: rabbit.publisher, logger })
    await relay.start()
    await waitFor(() => seen.length === 1)
    expect(seen[0]).toEqual({ fromMessage: 'req-7f3a', fromContext: 'req-7f3a' })
    expect(lines.find((l) => l.msg === 'handled')?.correlationId).toBe('req-7f3a')
    await relay.stop()
    await consumer.stop()
  })
})
