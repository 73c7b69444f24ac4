import { randomUUID } from 'node:crypto'
import { createLogger } from '@platform/logging'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRetention, type Retention } from '../src/retention.js'
import { type IngestHarness, paymentEvent, signedPost, startIngest } from './harness.js'

/**
 * Retention: old daily partitions are detached and dropped, partitions ahead are created, dedupe keys go only
 * after their events (in small batches), and only one instance runs the job at a time.
 */
const DAY = 86_400_000
let h: IngestHarness
let retention: Retention

beforeAll(async () => {
  h = await startIngest()
  retention = createRetention({
    sql: h.env.schema.sql,
    schema: h.env.schema.schema,
    logger: createLogger({ service: 'test', level: 'silent' }),
    retentionDays: 30,
    lookaheadDays: 7,
    batchSize: 2,
  })
})
afterAll(async () => {
  await h?.close()
})

async function insertOld(daysAgo: number, count: number): Promise<string[]> {
  const { sql } = h.env.schema
  const at = new Date(Date.now() - daysAgo * DAY)
  await retention.ensurePartitions(at, at)
  const keys = Array.from({ length: count }, () => `evt_old_${randomUUID()}`)
  for (const key of keys) {
    const id = randomUUID()
    await sql`insert into dedupe_keys (source, dedupe_key, event_id, received_at) values ('payment', ${key}, ${id}, ${at})`
    await sql`insert into events (id, source, event_id, event_type, format, payload, received_at, updated_at)
      values (${id}, 'payment', ${key}, 'charge.succeeded', 'stripe', '{}', ${at}, ${at})`
  }
  return keys
}

const dayName = (date: Date) => `events_p${date.toISOString().slice(0, 10).replaceAll('-', '')}`

describe('webhook retention', () => {
  it('drops partitions past retention, keeps recent ones, creates the days ahead, prunes keys after events', async () => {
    const old = await insertOld(40, 5)
    const recent = await insertOld(29, 2)
    const fresh = paymentEvent('charge.succeeded')
    expect((await h.app.inject(signedPost('payment', fresh))).statusCode).toBe(200)

    const report = await retention.runOnce()
    expect(report.ran).toBe(true)
    expect(report.dropped).toContain(dayName(new Date(Date.now() - 40 * DAY)))
    expect(report.dropped).not.toContain(dayName(new Date(Date.now() - 29 * DAY)))
    expect(report.keysPruned).toBe(5)

    const names = (await retention.partitions()).map((p) => p.name)
    expect(names).toContain(dayName(new Date(Date.now() + 7 * DAY)))
    expect(names).not.toContain(dayName(new Date(Date.now() - 40 * DAY)))
    const { sql } = h.env.schema
    const left = await sql<{ dedupe_key: string }[]>`select dedupe_key from dedupe_keys`
    const keys = left.map((r) => r.dedupe_key)
    expect(keys).toEqual(expect.arrayContaining([...recent, fresh.id]))
    expect(keys.some((k) => old.includes(k))).toBe(false)
    const [events] = await sql<{ n: number }[]>`select count(*)::int as n from events`
    expect(events?.n).toBe(3)

    // A recent duplicate is still recognised; a key past retention is a new event.
    const again = await h.app.inject(signedPost('payment', fresh))
    expect(again.headers['idempotent-replayed']).toBe('true')
    const expired = await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded', { id: old[0] })))
    expect(expired.statusCode).toBe(200)
    expect(expired.headers['idempotent-replayed']).toBeUndefined()
  })

  it('runs in one instance at a time', async () => {
    const { sql } = h.env.schema
    const other = await sql.reserve()
    try {
      await other`select pg_advisory_lock(hashtext(${`${h.env.schema.schema}:webhook-retention`}))`
      expect((await retention.runOnce()).ran).toBe(false)
    } finally {
      await other`select pg_advisory_unlock_all()`
      other.release()
    }
    expect((await retention.runOnce()).ran).toBe(true)
  })
})
