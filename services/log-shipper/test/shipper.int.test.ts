import { randomUUID } from 'node:crypto'
import { eventLogBatch, eventLogged } from '@platform/contracts'
import { buildEventMessage, rowsMessages } from '@platform/eventlog'
import { eventsInClickHouse, waitForEventInClickHouse, waitForEventsInClickHouse } from '@platform/eventlog/testing'
import { routingKeyOf } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness, metricValue } from './helpers.js'

let h: Harness
type SetupChannel = {
  assertQueue(queue: string, options: object): Promise<unknown>
  bindQueue(queue: string, exchange: string, key: string): Promise<unknown>
}
let shipped: Awaited<ReturnType<Harness['startShipper']>>

beforeAll(async () => {
  h = await createHarness('ship', { claimCheckThresholdBytes: 64 * 1024 })
  // A queue of the test's own on the eventlog exchange: it keeps a copy of what RabbitMQ carried for large events.
  await h.publisher.channel.addSetup(async (ch: SetupChannel) => {
    await ch.assertQueue('spy.large', { durable: false })
    await ch.bindQueue('spy.large', 'eventlog', 'eventlog.billing.report.generated')
  })
  shipped = await h.startShipper()
  await Promise.all([h.relay().start(), h.relay().start()])
})

afterAll(async () => {
  await h?.close()
})

describe('event log to ClickHouse', () => {
  it('ships a committed event as exactly one row and a rolled-back one never', async () => {
    let rolledBack = ''
    await h.producerDb.sql
      .begin(async (tx) => {
        rolledBack = await h.eventLog.record(tx, { eventType: 'order.paid', context: { orderId: 'rolled-back' } })
        throw new Error('payment declined')
      })
      .catch(() => {})
    const committed = await h.producerDb.sql.begin((tx) =>
      h.eventLog.record(tx, {
        eventType: 'order.paid',
        context: { orderId: 'o-1', amount: 1250 },
        occurredAt: new Date('2024-05-01T10:11:12Z'),
        metadataVersion: 2,
      }),
    )
    const row = await waitForEventInClickHouse(h.ch.client, h.ch.database, committed)
    expect(row).toEqual({
      event_id: committed,
      service: 'billing',
      event_type: 'order.paid',
      event_date_time: '2024-05-01 10:11:12',
      environment: 'test',
      event_context: '{"orderId":"o-1","amount":1250}',
      metadata_version: '2',
    })
    // Both were recorded before the committed one was shipped; the rolled-back one never reached the outbox.
    expect(await eventsInClickHouse(h.ch.client, h.ch.database, [rolledBack])).toEqual([])
    expect(await h.counts('order.paid')).toMatchObject({ rows: 1, distinct: 1 })
  })

  it('ships a rows message, an envelope of events and a single event in one batch, all as the same rows', async () => {
    const log = { service: 'billing', environment: 'test' }
    const built = (n: number, from: number) =>
      Array.from(
        { length: n },
        (_, i) =>
          buildEventMessage(log, {
            eventType: 'mixed.kind',
            context: { i: from + i, text: 'quotes " and \\ and é' },
            metadataVersion: from + i,
          }).message,
      )
    const [inRows, inEnvelope, [single]] = [built(30, 0), built(20, 30), built(1, 50)]
    const [rows] = rowsMessages(inRows)
    const before = {
      inserts: shipped.sink.inserts,
      rows: await metricValue(shipped.registry, 'log_shipper_rows_inserted_total'),
      received: await metricValue(shipped.registry, 'log_shipper_events_received_total'),
    }
    // As producers write them: the new rows message, an envelope of events (ingest still writes those; others wait
    // in queues across a deploy) and a single event, published together, so they arrive in one batch.
    await h.publisher.publishBatch([
      {
        exchange: 'eventlog',
        routingKey: rows?.routingKey as string,
        type: rows?.type as string,
        body: Buffer.from(rows?.bodyJson as string),
        headers: rows?.headers as Record<string, unknown>,
        messageId: randomUUID(),
      },
      {
        exchange: 'eventlog',
        routingKey: routingKeyOf(eventLogBatch, { events: inEnvelope }),
        type: eventLogBatch.type,
        body: { events: inEnvelope },
        messageId: randomUUID(),
      },
      {
        exchange: 'eventlog',
        routingKey: routingKeyOf(eventLogged, single!),
        type: eventLogged.type,
        body: single,
        messageId: single!.eventId,
      },
    ])
    const all = [...inRows, ...inEnvelope, single!]
    const stored = await waitForEventsInClickHouse(
      h.ch.client,
      h.ch.database,
      all.map((m) => m.eventId),
    )
    expect(shipped.sink.inserts - before.inserts).toBe(1)
    expect(shipped.sink.batches.at(-1)).toBe(51)
    const byId = new Map(stored.map((r) => [r.event_id, r]))
    for (const m of all) {
      expect(byId.get(m.eventId)).toEqual({
        event_id: m.eventId,
        service: 'billing',
        event_type: 'mixed.kind',
        event_date_time: m.eventDateTime,
        environment: 'test',
        event_context: m.context,
        metadata_version: String(m.metadataVersion),
      })
    }
    // The counters move after the insert's bookkeeping (claim checks), a moment after the rows are visible.
    const counted = async () => ({
      rows: await metricValue(shipped.registry, 'log_shipper_rows_inserted_total'),
      received: await metricValue(shipped.registry, 'log_shipper_events_received_total'),
    })
    await waitFor(async () => (await counted()).rows >= before.rows + 51)
    expect(await counted()).toEqual({ rows: before.rows + 51, received: before.received + 51 })
  })

  it('ships 100,000 events from 10 concurrent producers exactly once, in fewer than 100 inserts', async () => {
    const insertsBefore = shipped.sink.inserts
    const started = Date.now()
    const ids = await h.record(100_000, (i) => ({ eventType: 'load.recorded', context: { i } }), {
      producers: 10,
      perTx: 500,
    })
    expect(new Set(ids).size).toBe(100_000)
    const recordedAt = Date.now()
    await waitFor(async () => (await h.counts('load.recorded')).rows === 100_000, {
      timeoutMs: 50_000,
      intervalMs: 500,
      message: '100,000 rows in ClickHouse',
    })
    if (process.env.TEST_TIMINGS) console.log({ recordMs: recordedAt - started, totalMs: Date.now() - started })
    const counts = await h.counts('load.recorded')
    expect(counts).toMatchObject({ rows: 100_000, distinct: 100_000 })
    // Every id that was recorded is there (and nothing else of this type, by the counts above).
    const result = await h.ch.client.query({
      query: `SELECT toString(event_id) FROM event_log FINAL WHERE event_type = 'load.recorded'`,
      format: 'TabSeparated',
    })
    const stored = new Set((await result.text()).trim().split('\n'))
    expect(ids.every((id) => stored.has(id))).toBe(true)
    const inserts = shipped.sink.inserts - insertsBefore
    expect(inserts).toBeGreaterThan(0)
    expect(inserts).toBeLessThan(100)
    expect(await metricValue(shipped.registry, 'log_shipper_rows_inserted_total')).toBeGreaterThanOrEqual(100_000)
    expect(await metricValue(shipped.registry, 'log_shipper_events_received_total')).toBeGreaterThanOrEqual(100_000)
    expect(await metricValue(shipped.registry, 'log_shipper_insert_duration_seconds', { outcome: 'ok' })).toBe(
      shipped.sink.inserts,
    )
  })

  it('carries an 8 MB context by claim check: intact in ClickHouse, in no RabbitMQ message body', async () => {
    const marker = 'eight-megabytes-of-context'
    const context = { marker, report: `${marker}:${'0123456789abcdef'.repeat(512 * 1024)}` }
    const json = JSON.stringify(context)
    expect(json.length).toBeGreaterThan(8 * 1024 * 1024)
    const eventId = await h.producerDb.sql.begin((tx) =>
      h.eventLog.record(tx, { eventType: 'report.generated', context }),
    )
    const row = await waitForEventInClickHouse(h.ch.client, h.ch.database, eventId, { timeoutMs: 30_000 })
    expect(row.event_context.length).toBe(json.length)
    expect(row.event_context === json).toBe(true)

    // What RabbitMQ carried: the copy in the spy queue is a small message with a reference, not the context.
    const [carried] = await rabbitAdmin().getMessages(h.vhost.vhost, 'spy.large', 1)
    expect(carried?.properties.message_id).toBe(eventId)
    expect(carried?.payload.length).toBeLessThan(1024)
    expect(carried?.payload).not.toContain(marker)
    expect(JSON.parse(carried?.payload ?? '{}')).toMatchObject({
      context: null,
      claimCheck: { id: eventId, bytes: json.length },
    })

    // The payload is deleted once ClickHouse has the row.
    await waitFor(async () => {
      const [left] = await h.shipperDb
        .sql`select count(*)::int as n from eventlog_claims.payloads where id = ${eventId}`
      return left?.n === 0
    })
  })
})
