import { createHash } from 'node:crypto'
import { migrate } from '@platform/db'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BUCKETS, enqueueMany, insertOutboxRows, outboxMigrations } from '../index.js'

/**
 * The outbox's row rule (lib/outbox-rows.ts), read straight from the table (no relay runs on this schema): the
 * columns and bucket enqueueMany writes, and the same rule for a producer's own select composed into its statement.
 */
let db: TestSchema

beforeAll(async () => {
  db = await createTestSchema('enqueue_many')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
})
afterAll(() => db?.drop())

/** The documented rule: the first 16 bits of md5(key), mod BUCKETS (as the relay's per-key order assumes). */
const expectedBucket = (key: string) => createHash('md5').update(key).digest().readUInt16BE(0) % BUCKETS

const rowsOf = (ids: string[]) =>
  db.sql<
    {
      message_id: string
      routing_key: string
      type: string | null
      body: unknown
      body_text: string
      headers: Record<string, unknown>
      correlation_id: string | null
      ordering_key: string | null
      bucket: number
    }[]
  >`select *, body::text as body_text from outbox where message_id = any(${ids}::uuid[]) order by id`

describe('enqueueMany', () => {
  it('writes every message in one statement, in order, each key in its own md5 bucket', async () => {
    const keys = Array.from({ length: 40 }, (_, i) => `order-${i % 10}-ü`)
    const ids = await enqueueMany(
      db.sql,
      keys.map((key, seq) => ({
        exchange: 'orders',
        routingKey: `order.${seq}`,
        body: { key, seq },
        orderingKey: key,
      })),
    )
    const rows = await rowsOf(ids)
    expect(rows.map((r) => r.message_id)).toEqual(ids)
    expect(rows.map((r) => r.routing_key)).toEqual(keys.map((_, seq) => `order.${seq}`))
    expect(rows.map((r) => r.bucket)).toEqual(keys.map(expectedBucket))
    expect(rows.map((r) => [r.ordering_key, r.headers, r.type])).toEqual(keys.map((k) => [k, {}, null]))
  })

  it('keeps a bodyJson text as written, and the given id, type, headers and correlation id', async () => {
    const bodyJson = '{"b":1,  "a":[2, 3]}'
    const [id] = await enqueueMany(db.sql, [
      {
        exchange: 'orders',
        routingKey: 'order.x',
        body: undefined,
        bodyJson,
        type: 'order.placed.v1',
        messageId: '0b9c1f4e-2d7a-4d47-9a53-5a8f7e0f3f11',
        headers: { 'x-count': 2 },
        correlationId: 'corr-1',
      },
    ])
    expect(id).toBe('0b9c1f4e-2d7a-4d47-9a53-5a8f7e0f3f11')
    const [row] = await rowsOf([id as string])
    expect(row).toMatchObject({ body_text: bodyJson, type: 'order.placed.v1', headers: { 'x-count': 2 } })
    expect(row?.correlation_id).toBe('corr-1')
  })

  it('spreads messages without an ordering key over the buckets', async () => {
    const ids = await enqueueMany(
      db.sql,
      Array.from({ length: 400 }, (_, seq) => ({ exchange: 'orders', routingKey: 'order.any', body: { seq } })),
    )
    const buckets = new Set((await rowsOf(ids)).map((r) => r.bucket))
    expect(buckets.size).toBeGreaterThan(BUCKETS / 2)
    expect([...buckets].every((b) => b >= 0 && b < BUCKETS)).toBe(true)
  })
})

describe('insertOutboxRows in a statement of its own', () => {
  it('fills the defaults (new id, no headers) and buckets the rows of a select by the same rule', async () => {
    const [row] = await db.sql<{ message_id: string }[]>`
      with written as (${insertOutboxRows(
        db.sql,
        db.sql`select null::uuid as message_id, 'orders'::text as exchange, 'order.sql'::text as routing_key,
          null::text as type, json_build_object('n', 1) as body, null::jsonb as headers, null::text as correlation_id,
          'order-7'::text as ordering_key, null::text as traceparent, null::text as tracestate`,
      )} returning message_id)
      select message_id::text from written`
    const [stored] = await rowsOf([row?.message_id as string])
    expect(stored).toMatchObject({ body: { n: 1 }, headers: {}, bucket: expectedBucket('order-7') })
  })
})
