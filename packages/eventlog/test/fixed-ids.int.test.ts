import { randomUUID } from 'node:crypto'
import { migrate } from '@platform/db'
import { outboxMigrations } from '@platform/outbox'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventLog, ensureClaimCheckStore, eventIdFor, messageEventLog, pruneRecordedEvents } from '../index.js'

/**
 * Events with a fixed id (a consumer's, derived from the message it handles) are recorded at most once, whatever
 * number of transactions record them: the second handling of a redelivered message writes no second outbox row, so
 * no second ClickHouse row with another event_date_time (the table's key holds the time: the copies would not
 * collapse under FINAL).
 */
let db: TestSchema
const eventLog = createEventLog({ service: 'billing', environment: 'test', claimCheckThresholdBytes: 1024 })
const handledMessage = () => ({ consumer: 'billing.orders', messageId: randomUUID() })

beforeAll(async () => {
  db = await createTestSchema('eventlog_fixed')
  await migrate(db.sql, { schema: db.schema, migrations: outboxMigrations })
  await ensureClaimCheckStore(db.sql)
})
afterAll(async () => {
  await db?.drop()
})

/** The outbox rows carrying these event ids, single events and rows envelopes alike. */
async function carried(ids: string[]): Promise<string[]> {
  const rows = await db.sql<{ event_id: string }[]>`
    select body->>'eventId' as event_id from outbox where body->>'eventId' = any(${ids}::text[])
    union all
    select r->>'event_id' from outbox, json_array_elements(body->'rows') as r
    where type = 'eventlog.rows.v1' and r->>'event_id' = any(${ids}::text[])`
  return rows.map((r) => r.event_id).sort()
}

describe('an event with a fixed id', () => {
  it('is written once when two transactions record it, the first one’s time staying', async () => {
    const handled = handledMessage()
    const record = (at: string) =>
      db.sql.begin((tx) =>
        messageEventLog(eventLog, handled).record(tx, {
          eventType: 'order.shipped',
          context: { at },
          occurredAt: new Date(at),
        }),
      )
    const first = await record('2024-05-01T10:00:00Z')
    const again = await record('2024-05-01T10:00:07Z') // the redelivery, seconds later
    expect(again).toBe(first)
    expect(first).toBe(eventIdFor(handled, 'order.shipped', 0))
    expect(await carried([first])).toEqual([first])
    const [row] = await db.sql<{ body: { eventDateTime: string } }[]>`
      select body from outbox where message_id = ${first}`
    expect(row?.body.eventDateTime).toBe('2024-05-01 10:00:00')
  })

  it('is written by a later transaction when the first one rolled back', async () => {
    const handled = handledMessage()
    const entry = { eventType: 'order.shipped', context: {} }
    await db.sql
      .begin(async (tx) => {
        await messageEventLog(eventLog, handled).record(tx, entry)
        throw new Error('rolled back')
      })
      .catch(() => {})
    const id = await db.sql.begin((tx) => messageEventLog(eventLog, handled).record(tx, entry))
    expect(await carried([id])).toEqual([id])
  })

  it('keeps one claim-checked context: a repeat of a large event does not collide with its payload', async () => {
    const handled = handledMessage()
    const entry = { eventType: 'report.generated', context: { report: 'r'.repeat(5000) } }
    const first = await db.sql.begin((tx) => messageEventLog(eventLog, handled).record(tx, entry))
    const again = await db.sql.begin((tx) => messageEventLog(eventLog, handled).record(tx, entry))
    expect(again).toBe(first)
    const [claims] = await db.sql`select count(*)::int as n from eventlog_claims.payloads where id = ${first}`
    expect(claims?.n).toBe(1)
    expect(await carried([first])).toEqual([first])
  })

  it('in recordMany: only the events not recorded before are written, an id given twice once', async () => {
    const handled = handledMessage()
    const entries = (n: number) => Array.from({ length: n }, (_, i) => ({ eventType: 'import.row', context: { i } }))
    const two = await db.sql.begin((tx) => messageEventLog(eventLog, handled).recordMany(tx, entries(2)))
    const three = await db.sql.begin((tx) => messageEventLog(eventLog, handled).recordMany(tx, entries(3)))
    expect(three.slice(0, 2)).toEqual(two)
    // eventlog_claims is shared by every test file and outlives them: an id of this run's own.
    const fixed = randomUUID()
    const twice = await db.sql.begin((tx) =>
      eventLog.recordMany(tx, [
        { eventType: 'x', context: 1, eventId: fixed },
        { eventType: 'x', context: 2, eventId: fixed.toUpperCase() },
        { eventType: 'x', context: 3 },
      ]),
    )
    expect(twice.slice(0, 2)).toEqual([fixed, fixed.toUpperCase()])
    expect(await carried([...three, fixed, twice[2] as string])).toEqual([...three, fixed, twice[2]].sort())
  })

  it('is written once when two handlings record it at the same time', async () => {
    const handled = handledMessage()
    const ids = await Promise.all(
      [1, 2, 3].map(() =>
        db.sql.begin((tx) =>
          messageEventLog(eventLog, handled).record(tx, { eventType: 'order.shipped', context: {} }),
        ),
      ),
    )
    expect(new Set(ids).size).toBe(1)
    expect(await carried(ids.slice(0, 1))).toEqual(ids.slice(0, 1))
  })

  it('is forgotten by pruneRecordedEvents after its horizon, not before', async () => {
    const handled = handledMessage()
    const id = await db.sql.begin((tx) =>
      messageEventLog(eventLog, handled).record(tx, { eventType: 'order.shipped', context: {} }),
    )
    await pruneRecordedEvents(db.sql, 1)
    const kept = await db.sql`select 1 from eventlog_claims.recorded_events where event_id = ${id}`
    expect(kept).toHaveLength(1)
    await db.sql`update eventlog_claims.recorded_events set recorded_at = now() - interval '2 days' where event_id = ${id}`
    expect(await pruneRecordedEvents(db.sql, 1)).toBeGreaterThanOrEqual(1)
    expect(await db.sql`select 1 from eventlog_claims.recorded_events where event_id = ${id}`).toHaveLength(0)
  })
})
