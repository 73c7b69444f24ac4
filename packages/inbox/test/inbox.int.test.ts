import { migrate } from '@platform/db'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createInbox, inboxMigrations } from '../index.js'

let db: TestSchema
beforeAll(async () => {
  db = await createTestSchema('inbox')
  await migrate(db.sql, { schema: db.schema, migrations: inboxMigrations })
  await db.sql`create table counters (id text primary key, n int not null)`
  await db.sql`insert into counters values ('c', 0)`
})
afterAll(async () => {
  await db?.drop()
})

const increment = (inbox: ReturnType<typeof createInbox>, messageId: string) =>
  inbox.process(messageId, async (tx) => {
    await tx`update counters set n = n + 1 where id = 'c'`
  })

describe('inbox', () => {
  it('applies the effect of 20 concurrent copies of one message once', async () => {
    const inbox = createInbox(db.sql, 'counter')
    const results = await Promise.all(Array.from({ length: 20 }, () => increment(inbox, 'msg-1')))
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1)
    const [row] = await db.sql`select n from counters where id = 'c'`
    expect(row?.n).toBe(1)
  })

  it('records nothing when the effect fails, so a retry applies it', async () => {
    const inbox = createInbox(db.sql, 'counter')
    await expect(
      inbox.process('msg-2', async () => {
        throw new Error('downstream failure')
      }),
    ).rejects.toThrow('downstream failure')
    expect((await increment(inbox, 'msg-2')).duplicate).toBe(false)
    expect((await increment(inbox, 'msg-2')).duplicate).toBe(true)
  })

  it('says whether a message was seen, per consumer, without claiming it', async () => {
    const inbox = createInbox(db.sql, 'seen-check')
    expect(await inbox.seen('msg-3')).toBe(false)
    // Asking does not claim: the message is still processed the first time.
    expect((await increment(inbox, 'msg-3')).duplicate).toBe(false)
    expect(await inbox.seen('msg-3')).toBe(true)
    expect(await createInbox(db.sql, 'another-consumer').seen('msg-3')).toBe(false)
  })

  it('keeps consumers apart and prunes old ids', async () => {
    const other = createInbox(db.sql, 'other-consumer')
    expect((await increment(other, 'msg-1')).duplicate).toBe(false)
    await db.sql`update inbox set processed_at = now() - interval '40 days' where message_id = 'msg-1'`
    expect(await other.prune(30)).toBe(1)
  })
})

describe('inbox, many messages in one transaction', () => {
  it('runs the effect with the ids not seen before, and records them with it', async () => {
    const inbox = createInbox(db.sql, 'bulk')
    await increment(inbox, 'b-2')
    const first = await inbox.processMany(['b-3', 'b-1', 'b-2', 'b-1'], async (_tx, fresh) => fresh.size)
    expect([...first.fresh].sort()).toEqual(['b-1', 'b-3'])
    expect(first.result).toBe(2)
    expect(await inbox.seen('b-3')).toBe(true)
    const again = await inbox.processMany(['b-1', 'b-3'], async (_tx, fresh) => fresh.size)
    expect(again.fresh.size).toBe(0)
  })

  it('records none of the ids when the effect fails', async () => {
    const inbox = createInbox(db.sql, 'bulk-failing')
    await expect(
      inbox.processMany(['f-1', 'f-2'], async () => {
        throw new Error('write failed')
      }),
    ).rejects.toThrow('write failed')
    expect(await inbox.seen('f-1')).toBe(false)
  })

  it('gives each id to one of two concurrent batches that share it', async () => {
    const inbox = createInbox(db.sql, 'bulk-concurrent')
    const [a, b] = await Promise.all([
      inbox.processMany(['c-1', 'c-2', 'c-3'], async () => undefined),
      inbox.processMany(['c-3', 'c-2', 'c-4'], async () => undefined),
    ])
    expect([...a.fresh, ...b.fresh].sort()).toEqual(['c-1', 'c-2', 'c-3', 'c-4'])
  })
})
