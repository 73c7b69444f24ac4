import { createTestSchema, type TestSchema, testUrls, waitFor } from '@platform/testing'
import { startSpan, startTracing, type Tracing, withSpan } from '@platform/tracing'
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '@platform/tracing/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSql, type Sql } from '../index.js'

/**
 * Query spans (lib/tracing.ts): postgres.js is wrapped only once tracing is on, and then traces the queries made inside
 * a span (with their statement, as children of it, failed ones as errors) and none outside any span.
 */
let receiver: OtlpReceiver
let tracing: Tracing | undefined
let db: TestSchema
let sql: Sql

const handleOf = (s: Sql) => (Object.getPrototypeOf(s`select 1`) as { handle: { name: string } }).handle.name

beforeAll(async () => {
  receiver = await startOtlpReceiver()
  db = await createTestSchema('dbtrace')
})

afterAll(async () => {
  await sql?.end()
  await tracing?.shutdown()
  await Promise.allSettled([db?.drop(), receiver?.close()])
})

describe('PostgreSQL query spans', () => {
  it('leaves postgres.js untouched while tracing is off', async () => {
    const off = createSql({ url: testUrls().databaseUrl, schema: db.schema })
    expect(handleOf(off)).toBe('handle')
    await off.end()
  })

  it('traces the queries made inside a span, and none outside', async () => {
    tracing = await startTracing({ service: 'db-test', endpoint: `${receiver.url}/v1/traces`, sampleRatio: 1 })
    sql = createSql({ url: testUrls().databaseUrl, schema: db.schema })
    expect(handleOf(sql)).toBe('handleTraced')
    await sql`create table items (id int primary key)`
    const parent = startSpan('test', 'a request')
    await withSpan(parent, async () => {
      await sql`insert into items ${sql([{ id: 1 }, { id: 2 }])}`
      await sql.begin(async (tx) => tx`select id from items where id = ${1}`)
      await expect(sql`insert into items values (1)`).rejects.toThrow(/duplicate key/)
    })
    parent.end()
    await sql`select count(*) from items`
    await tracing.flush()
    const traceId = parent.spanContext().traceId
    const spans = await waitFor(() => {
      const got = receiver.trace(traceId).filter((s) => s.scope === '@platform/db')
      return got.length >= 5 ? got : undefined
    })
    expect(spans.map((s) => s.name)).toEqual(['INSERT items', 'BEGIN', 'SELECT items', 'COMMIT', 'INSERT items'])
    expect(spans.every((s) => s.kind === SPAN_KIND.client && s.parentSpanId === parent.spanContext().spanId)).toBe(true)
    expect(spans[0]?.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.name': 'INSERT',
      'db.response.returned_rows': 2,
    })
    expect(spans[2]?.attributes['db.query.text']).toBe('select id from items where id = $1')
    expect(spans.map((s) => s.status)).toEqual([0, 0, 0, 0, 2])
    // The table's creation and the last count ran outside any span: no trace of their own.
    expect(receiver.spans().filter((s) => s.scope === '@platform/db')).toHaveLength(5)
  })
})
