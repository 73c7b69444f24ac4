import { randomUUID } from 'node:crypto'
import { webhookReceivedEnvelope } from '@platform/contracts'
import type { MessageEnvelope } from '@platform/messaging'
import { migrateService } from '@platform/service'
import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AcceptItem, createBatchAcceptor, RECEIVED_BATCH_BYTES, RECEIVED_PER_BATCH } from '../src/accept-batch.js'

/**
 * How a group commit's events become `webhook.received.batch.v1` outbox rows, read straight from the outbox (no relay
 * runs on this schema): one row per source, a new one past RECEIVED_PER_BATCH events or RECEIVED_BATCH_BYTES.
 */
let db: TestSchema
let accept: ReturnType<typeof createBatchAcceptor>

beforeAll(async () => {
  db = await createTestSchema('accept_batch')
  await migrateService(db.sql, db.schema, new URL('../migrations/', import.meta.url))
  accept = createBatchAcceptor(db.sql, { service: 'ingest', environment: 'test' })
})
afterAll(() => db?.drop())

const item = (source: string, padding = 0): AcceptItem => ({
  source,
  format: 'stripe',
  dedupeKey: `evt_${randomUUID()}`,
  eventType: 'charge.succeeded',
  payload: { padding: 'x'.repeat(padding) },
})

async function batchRows(ids: string[]) {
  const rows = await db.sql<{ routing_key: string; body: MessageEnvelope }[]>`
    select routing_key, body from outbox where type = ${webhookReceivedEnvelope.type} order by id`
  // Only this test's events, in message order.
  return rows
    .map((r) => ({ routingKey: r.routing_key, ids: r.body.messages.map((m) => m.id).filter((id) => ids.includes(id)) }))
    .filter((r) => r.ids.length > 0)
}

describe('webhook.received batches of a group commit', () => {
  it('writes one batch per source, and a new one past RECEIVED_PER_BATCH events', async () => {
    const items = [
      ...Array.from({ length: RECEIVED_PER_BATCH + 1 }, () => item('payment')),
      item('orders'),
      item('orders'),
    ]
    const ids = (await accept(items)).map((r) => r.id)
    const rows = await batchRows(ids)
    expect(rows.map((r) => [r.routingKey, r.ids.length]).sort()).toEqual([
      ['webhook.orders', 2],
      ['webhook.payment', 1],
      ['webhook.payment', RECEIVED_PER_BATCH],
    ])
    expect(new Set(rows.flatMap((r) => r.ids))).toEqual(new Set(ids))
  })

  it('starts a new batch once the bodies before it pass RECEIVED_BATCH_BYTES', async () => {
    // Three events of ~0.6 of the limit each: the first two fit in one batch (0 and 0.6 before them), the third not.
    const ids = (await accept([0, 1, 2].map(() => item('payment', Math.floor(RECEIVED_BATCH_BYTES * 0.6))))).map(
      (r) => r.id,
    )
    const rows = await batchRows(ids)
    expect(rows.map((r) => r.ids.length).sort()).toEqual([1, 2])
  })
})
