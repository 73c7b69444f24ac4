/**
 * Rows ClickHouse rejects: isolated by bisection while their batch-mates land, dead-lettered with the reason,
 * recorded in failed_events and counted; then moved back from the DLQ the way an operator does (the management
 * UI's "Move messages" shovel).
 */
import { eventLogged, logShipperConsumer } from '@platform/contracts'
import { buildEventMessage } from '@platform/eventlog'
import { eventsInClickHouse, waitForEventInClickHouse, waitForEventsInClickHouse } from '@platform/eventlog/testing'
import { dlqName, HEADERS, routingKeyOf } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { failedEventsRepository } from '../src/failed-events.js'
import { createHarness, type Harness, metricValue } from './helpers.js'

let h: Harness
const admin = rabbitAdmin()
const queue = logShipperConsumer.queue
const dlq = dlqName(queue)

beforeAll(async () => {
  h = await createHarness('poison', { claimCheckThresholdBytes: 1024 })
})

afterAll(async () => {
  await h?.close()
})

const dlqMessages = () => admin.getMessages(h.vhost.vhost, dlq, 10)
const failedFor = (eventId: string) => failedEventsRepository(h.shipperDb.sql).list({ eventId })

/** Starts a shipper on messages already waiting, so they arrive in one batch. */
async function shipInOneBatch(publish: () => Promise<string[]>) {
  const declared = await h.startShipper()
  await declared.close()
  const ids = await publish()
  const running = await h.startShipper({ policy: { maxWaitMs: 500 } })
  return { ids, running }
}

describe('a row ClickHouse rejects', () => {
  it('is isolated while its batch-mates land, dead-lettered with the reason, recorded; a replay fails the same way', async () => {
    const { ids, running } = await shipInOneBatch(async () => {
      const messages = Array.from({ length: 21 }, (_, i) =>
        buildEventMessage({ service: 'crm', environment: 'test' }, { eventType: 'contact.updated', context: { i } }),
      ).map((m) => m.message)
      // A producer that writes a date ClickHouse cannot read, published straight to the exchange.
      const poison = messages[7]!
      poison.eventDateTime = 'not-a-date'
      await h.publisher.publishBatch(
        messages.map((body) => ({
          exchange: eventLogged.exchange.name,
          routingKey: routingKeyOf(eventLogged, body),
          type: eventLogged.type,
          body,
          messageId: body.eventId,
        })),
      )
      return messages.map((m) => m.eventId)
    })
    const poisonId = ids[7]!
    const good = ids.filter((id) => id !== poisonId)

    await waitForEventsInClickHouse(h.ch.client, h.ch.database, good)
    const [dead] = await waitFor(async () => {
      const messages = await dlqMessages()
      return messages.length === 1 ? messages : undefined
    })
    expect(dead?.properties.message_id).toBe(poisonId)
    expect(dead?.properties.headers).toMatchObject({
      [HEADERS.deadLetteredBy]: queue,
      [HEADERS.originalExchange]: 'eventlog',
    })
    expect(String(dead?.properties.headers?.[HEADERS.error])).toMatch(/LOGSHIP_ROWS_REJECTED|rejected the rows/)
    expect(String(dead?.properties.headers?.[HEADERS.error])).toMatch(/DateTime/)

    const [failure] = await failedFor(poisonId)
    expect(failure).toMatchObject({ event_id: poisonId, message_id: poisonId, service: 'crm', payload_ref: null })
    expect(failure?.batch_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(failure?.error).toMatch(/DateTime/)
    expect(failure?.message.eventDateTime).toBe('not-a-date')

    expect(await eventsInClickHouse(h.ch.client, h.ch.database, [poisonId])).toEqual([])
    expect(running.sink.batches[0]).toBe(21)
    expect(running.sink.inserts).toBeGreaterThan(1) // bisected
    expect(running.sink.inserts).toBeLessThanOrEqual(1 + 2 * Math.ceil(Math.log2(21)))
    expect(await metricValue(running.registry, 'log_shipper_failed_rows_total')).toBe(1)

    // Nothing can fix this row: moved back, it is dead-lettered again with the reason, marked as a replay.
    await admin.moveMessages(h.vhost.vhost, dlq, queue)
    await waitFor(async () => (await failedFor(poisonId)).length === 2)
    const [again] = await waitFor(async () => {
      const messages = await dlqMessages()
      return messages.length === 1 ? messages : undefined
    })
    expect(again?.properties.headers?.[HEADERS.replays]).toBe(1)
    expect(String(again?.properties.headers?.[HEADERS.error])).toMatch(/DateTime/)
    expect(await h.counts('contact.updated')).toMatchObject({ rows: 20, distinct: 20 })
    await admin.getMessages(h.vhost.vhost, dlq, 10, false) // leave the DLQ empty for the next test
    await running.close()
  })

  it('lands exactly once when moved back after the cause was fixed (a column too narrow, then widened)', async () => {
    // The cause: a migration made environment FixedString(12); an event from a longer-named environment is refused.
    await h.ch.client.command({ query: 'ALTER TABLE event_log MODIFY COLUMN environment FixedString(12)' })
    const large = { note: 'a large context waits in the claim-check store until its row lands', pad: 'x'.repeat(4096) }
    const { ids, running } = await shipInOneBatch(async () => {
      const recorded = await h.record(
        6,
        (i) =>
          i === 3
            ? { eventType: 'deploy.finished', context: large, environment: 'preview-eu-west-1' }
            : { eventType: 'deploy.finished', context: { i } },
        { perTx: 6 }, // one transaction: the six travel in one envelope
      )
      await h.relay().drain()
      return recorded
    })
    const rejectedId = ids[3]!
    await waitForEventsInClickHouse(
      h.ch.client,
      h.ch.database,
      ids.filter((id) => id !== rejectedId),
    )
    const [failure] = await waitFor(() => failedFor(rejectedId).then((rows) => (rows.length ? rows : undefined)))
    expect(failure?.error).toMatch(/FixedString/)
    expect(failure?.payload_ref).toBe(rejectedId)
    // The envelope is dead-lettered whole, its reason naming the rejected event; its other events landed.
    const [dead] = await waitFor(async () => {
      const messages = await dlqMessages()
      return messages.length === 1 ? messages : undefined
    })
    expect(String(dead?.properties.headers?.[HEADERS.error])).toContain(rejectedId)
    // The payload stays for the replay.
    const [kept] = await h.shipperDb
      .sql`select count(*)::int as n from eventlog_claims.payloads where id = ${rejectedId}`
    expect(kept?.n).toBe(1)

    // The fix, then the operator moves the message back.
    await h.ch.client.command({ query: 'ALTER TABLE event_log MODIFY COLUMN environment String' })
    await admin.moveMessages(h.vhost.vhost, dlq, queue)

    const row = await waitForEventInClickHouse(h.ch.client, h.ch.database, rejectedId)
    expect(row.environment).toBe('preview-eu-west-1')
    expect(row.event_context).toBe(JSON.stringify(large))
    await waitFor(async () => running.shipper.consumer?.pending() === 0)
    expect(await dlqMessages()).toEqual([])
    expect(await h.counts('deploy.finished')).toMatchObject({ rows: 6, distinct: 6 })
    expect(await failedFor(rejectedId)).toHaveLength(1)
    await waitFor(async () => {
      const [left] = await h.shipperDb
        .sql`select count(*)::int as n from eventlog_claims.payloads where id = ${rejectedId}`
      return left?.n === 0
    })
    await running.close()
  })
})
