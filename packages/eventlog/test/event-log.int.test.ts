import { EVENT_COUNT_HEADER, eventLogged, eventLogRows } from '@platform/contracts'
import { migrate } from '@platform/db'
import { outboxMigrations } from '@platform/outbox'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimCheckStore, createEventLog, ensureClaimCheckStore } from '../index.js'

let db: TestSchema
const eventLog = createEventLog({ service: 'billing', environment: 'test', claimCheckThresholdBytes: 1024 })

interface OutboxRow {
  message_id: string
  exchange: string
  routing_key: string
  type: string
  body: Record<string, unknown>
}

beforeAll(async () => {
  db = await createTestSchema('eventlog')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
  await ensureClaimCheckStore(db.sql)
})

afterAll(async () => {
  await db?.drop()
})

const outboxRows = (ids: string[]) =>
  db.sql<
    OutboxRow[]
  >`select message_id, exchange, routing_key, type, body from outbox where message_id = any(${ids}::uuid[])`
const claims = (ids: string[]) =>
  db.sql<{ id: string; service: string; context: string }[]>`
    select id, service, context from eventlog_claims.payloads where id = any(${ids}::uuid[])`

class BusinessRuleFailed extends Error {}

describe('recording inside the business transaction', () => {
  it('writes nothing when the transaction rolls back, small or large context', async () => {
    const ids: string[] = []
    await expect(
      db.sql.begin(async (tx) => {
        ids.push(await eventLog.record(tx, { eventType: 'order.paid', context: { orderId: 1 } }))
        ids.push(await eventLog.record(tx, { eventType: 'order.paid', context: { blob: 'z'.repeat(5000) } }))
        throw new BusinessRuleFailed('card declined')
      }),
    ).rejects.toThrow(BusinessRuleFailed)
    expect(ids).toHaveLength(2)
    expect(await outboxRows(ids)).toEqual([])
    expect(await claims(ids)).toEqual([])
  })

  it('writes exactly one outbox row on commit, addressed to the eventlog exchange, id = event id', async () => {
    const eventId = await db.sql.begin((tx) =>
      eventLog.record(tx, { eventType: 'order.paid', context: { orderId: 42, amount: 1999 } }),
    )
    const rows = await outboxRows([eventId])
    expect(rows).toHaveLength(1)
    const row = rows[0] as OutboxRow
    expect(row).toMatchObject({
      message_id: eventId,
      exchange: 'eventlog',
      routing_key: 'eventlog.billing.order.paid',
      type: eventLogged.type,
    })
    expect(row.body).toMatchObject({
      eventId,
      service: 'billing',
      eventType: 'order.paid',
      environment: 'test',
      metadataVersion: 1,
      context: '{"orderId":42,"amount":1999}',
      claimCheck: null,
    })
    expect(row.body.eventDateTime).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/)
    expect(await claims([eventId])).toEqual([])
  })

  it('puts a context over the threshold in the claim-check table in the same transaction, not in the outbox', async () => {
    const context = { report: 'r'.repeat(200_000), lines: [1, 2, 3] }
    const eventId = await db.sql.begin(async (tx) => {
      const id = await eventLog.record(tx, { eventType: 'report.generated', context })
      // Inside the transaction both are visible; outside, neither is until commit (checked below via rollback).
      const [inTx] = await tx`select count(*)::int as n from eventlog_claims.payloads where id = ${id}`
      expect(inTx?.n).toBe(1)
      return id
    })
    const [claim] = await claims([eventId])
    expect(claim).toEqual({ id: eventId, service: 'billing', context: JSON.stringify(context) })
    const [row] = await outboxRows([eventId])
    expect(row?.body).toMatchObject({
      context: null,
      claimCheck: { id: eventId, bytes: JSON.stringify(context).length },
    })
    expect(JSON.stringify(row?.body).length).toBeLessThan(1000)

    const store = claimCheckStore(db.sql)
    expect((await store.get([eventId])).get(eventId)).toBe(JSON.stringify(context))
    expect(await store.oldestAgeSeconds()).toBeGreaterThanOrEqual(0)
    expect(await store.remove([eventId])).toBe(1)
    expect((await store.get([eventId])).size).toBe(0)
  })

  it('records many events as rows envelopes: one outbox row per envelope, a large context alone by claim check', async () => {
    const entries = [
      ...Array.from({ length: 700 }, (_, i) => ({ eventType: 'import.row', context: { i } })),
      { eventType: 'import.report', context: { report: 'q'.repeat(3000) } },
    ]
    const ids = await db.sql.begin((tx) => eventLog.recordMany(tx, entries))
    expect(ids).toHaveLength(701)
    expect(new Set(ids).size).toBe(701)
    const rows = await db.sql<(OutboxRow & { headers: Record<string, unknown> })[]>`
      select message_id, exchange, routing_key, type, body, headers from outbox where type = ${eventLogRows.type}
      and body->'rows'->0->>'event_id' = any(${ids}::text[]) order by id`
    // A few envelopes, each at most 500 rows and 64 KiB of JSON, the row count in a header.
    expect(rows.length).toBeGreaterThan(1)
    expect(rows.length).toBeLessThan(10)
    for (const row of rows) {
      const carried = row.body.rows as unknown[]
      expect(carried.length).toBeLessThanOrEqual(500)
      expect(row.headers).toEqual({ [EVENT_COUNT_HEADER]: carried.length })
      expect(JSON.stringify(row.body).length).toBeLessThanOrEqual(64 * 1024)
    }
    expect(rows.every((r) => r.exchange === 'eventlog' && r.routing_key === 'eventlog.billing.rows')).toBe(true)
    const carried = rows.flatMap((r) => r.body.rows as { event_id: string; event_context: string }[])
    expect(carried.map((e) => e.event_id)).toEqual(ids.slice(0, 700))
    expect(carried[5]?.event_context).toBe('{"i":5}')
    // The large one: its own eventLogged message, context in the claim-check store.
    const [large] = await outboxRows(ids.slice(700))
    expect(large).toMatchObject({ type: eventLogged.type, routing_key: 'eventlog.billing.import.report' })
    expect(large?.body).toMatchObject({
      context: null,
      claimCheck: { id: ids[700], bytes: JSON.stringify(entries.at(-1)?.context).length },
    })
    expect(await claims(ids)).toHaveLength(1)
  })

  it('writes no envelope and no claim when a recordMany transaction rolls back', async () => {
    const ids: string[] = []
    await db.sql
      .begin(async (tx) => {
        ids.push(
          ...(await eventLog.recordMany(tx, [
            { eventType: 'a', context: 1 },
            { eventType: 'b', context: 'z'.repeat(2000) },
          ])),
        )
        throw new BusinessRuleFailed('abort')
      })
      .catch(() => {})
    expect(ids).toHaveLength(2)
    const [left] = await db.sql`select count(*)::int as n from outbox where body::text like ${`%${ids[0]}%`}`
    expect(left?.n).toBe(0)
    expect(await claims(ids)).toEqual([])
  })
})
