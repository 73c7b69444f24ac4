import { jsonText, migrate } from '@platform/db'
import { insertOutboxRows, outboxMigrations } from '@platform/outbox'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildEventMessage, rowJson, rowsMessages, rowsMessagesSql } from '../index.js'

/**
 * rowsMessagesSql (ingest's group commit) must write what rowsMessages (recordMany) writes, byte for byte: the
 * log-shipper hands a rows message's bytes to ClickHouse unparsed and tells it by its prefix, suffix and count header.
 */
let db: TestSchema

beforeAll(async () => {
  db = await createTestSchema('rows_sql')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
})
afterAll(() => db?.drop())

const options = { service: 'ingest', environment: 'test' }
const events = Array.from(
  { length: 7 },
  (_, i) =>
    buildEventMessage(options, {
      eventType: 'webhook.accepted',
      // Escapes and non-ASCII text: the row's JSON must reach the body as written.
      context: { id: i, note: 'quote " backslash \\ ü \u2028' },
      occurredAt: new Date('2024-05-01T10:00:00Z'),
    }).message,
)

describe('rowsMessagesSql', () => {
  it('writes the bodies, headers, type and routing key of rowsMessages, perMessage rows each', async () => {
    const expected = rowsMessages(events, { maxEvents: 3, maxBytes: 1 << 20 })
    const rows = `[${events.map((e, n) => `{"n":${n},"row_json":${rowJson(e, e.context ?? 'null')}}`).join(',')}]`
    const written = await db.sql<
      { exchange: string; routing_key: string; type: string; body: string; headers: Record<string, unknown> }[]
    >`
      with input as (
        select * from json_to_recordset(${jsonText(db.sql, rows)}::json) as t(n int, row_json json) order by n
      ),
      written as (${insertOutboxRows(db.sql, rowsMessagesSql(db.sql, db.sql`input`, { service: 'ingest', perMessage: 3 }))}
        returning id, exchange, routing_key, type, body::text as body, headers)
      select exchange, routing_key, type, body, headers from written order by id`
    expect(written).toEqual(
      expected.map((m) => ({
        exchange: m.exchange,
        routing_key: m.routingKey,
        type: m.type,
        body: m.bodyJson,
        headers: m.headers,
      })),
    )
  })
})
