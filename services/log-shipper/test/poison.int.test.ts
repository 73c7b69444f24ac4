/**
 * Rows ClickHouse rejects: isolated by bisection while their batch-mates land, dead-lettered with the reason,
 * recorded in failed_events and counted; then moved back from the DLQ the way an operator does (the management
 * UI's "Move messages" shovel).
 */
import { randomUUID } from 'node:crypto'
import {
  EVENT_COUNT_HEADER,
  eventLogged,
  eventLogRows,
  logShipperConsumer,
  ROWS_PREFIX,
  ROWS_SUFFIX,
} from '@platform/contracts'
import { buildEventMessage, rowsMessages } from '@platform/eventlog'
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

  it('isolates the exact rows of a rows envelope and a claim-checked event; both land once when moved back after the fix', async () => {
    // The cause: a migration made environment FixedString(12); an event from a longer-named environment is refused.
    await h.ch.client.command({ query: 'ALTER TABLE event_log MODIFY COLUMN environment FixedString(12)' })
    const large = { note: 'a large context waits in the claim-check store until its row lands', pad: 'x'.repeat(4096) }
    const { ids, running } = await shipInOneBatch(async () => {
      const recorded = await h.record(
        40,
        (i) =>
          i === 3
            ? { eventType: 'deploy.finished', context: large, environment: 'preview-eu-west-1' }
            : i === 21
              ? { eventType: 'deploy.finished', context: { i }, environment: 'preview-us-east-2' }
              : { eventType: 'deploy.finished', context: { i } },
        // One transaction: the large event travels alone by claim check, the other 39 in one rows envelope.
        { perTx: 40 },
      )
      await h.relay().drain()
      return recorded
    })
    const [largeId, inEnvelopeId] = [ids[3]!, ids[21]!]
    await waitForEventsInClickHouse(
      h.ch.client,
      h.ch.database,
      ids.filter((id) => id !== largeId && id !== inEnvelopeId),
    )
    const failures = await waitFor(async () => {
      const rows = await failedEventsRepository(h.shipperDb.sql).list()
      const ours = rows.filter((r) => r.event_id === largeId || r.event_id === inEnvelopeId)
      return ours.length === 2 ? ours : undefined
    })
    const byId = new Map(failures.map((f) => [f.event_id, f]))
    expect(byId.get(largeId)).toMatchObject({
      message_id: largeId,
      payload_ref: largeId,
      event_type: 'deploy.finished',
    })
    // The row of the rows envelope is named exactly; the message is the envelope's, the record holds the row.
    expect(byId.get(inEnvelopeId)).toMatchObject({
      payload_ref: null,
      service: 'billing',
      event_type: 'deploy.finished',
    })
    expect(byId.get(inEnvelopeId)?.message_id).not.toBe(inEnvelopeId)
    expect(byId.get(inEnvelopeId)?.message).toMatchObject({ event_id: inEnvelopeId, environment: 'preview-us-east-2' })
    for (const failure of failures) expect(failure.error).toMatch(/FixedString/)
    expect(await metricValue(running.registry, 'log_shipper_failed_rows_total')).toBe(2)
    // Bisection over the two messages, then over the 39 rows of the rejected envelope: far fewer than one per row.
    expect(running.sink.batches[0]).toBe(40)
    expect(running.sink.inserts).toBeLessThanOrEqual(1 + 2 + 2 * Math.ceil(Math.log2(39)))

    // Both messages are dead-lettered: the envelope whole, its reason naming the rejected event.
    const dead = await waitFor(async () => {
      const messages = await dlqMessages()
      return messages.length === 2 ? messages : undefined
    })
    expect(dead.map((m) => m.properties.message_id)).toContain(largeId)
    const envelope = dead.find((m) => m.properties.message_id !== largeId)
    expect(envelope?.properties.headers?.[HEADERS.originalRoutingKey]).toBe('eventlog.billing.rows')
    expect(String(envelope?.properties.headers?.[HEADERS.error])).toContain(`event(s) ${inEnvelopeId} rejected`)
    expect(envelope?.properties.headers?.[EVENT_COUNT_HEADER]).toBe(39)
    // The payload stays for the replay.
    const [kept] = await h.shipperDb.sql`select count(*)::int as n from eventlog_claims.payloads where id = ${largeId}`
    expect(kept?.n).toBe(1)

    // The fix, then the operator moves the messages back.
    await h.ch.client.command({ query: 'ALTER TABLE event_log MODIFY COLUMN environment String' })
    await admin.moveMessages(h.vhost.vhost, dlq, queue)

    const row = await waitForEventInClickHouse(h.ch.client, h.ch.database, largeId)
    expect(row.environment).toBe('preview-eu-west-1')
    expect(row.event_context).toBe(JSON.stringify(large))
    expect((await waitForEventInClickHouse(h.ch.client, h.ch.database, inEnvelopeId)).environment).toBe(
      'preview-us-east-2',
    )
    await waitFor(async () => running.shipper.consumer?.pending() === 0)
    expect(await dlqMessages()).toEqual([])
    // The envelope's other 38 rows were written again: the deduplicating reads show each event once.
    expect(await h.counts('deploy.finished')).toMatchObject({ rows: 40, distinct: 40 })
    expect(await failedFor(largeId)).toHaveLength(1)
    expect(await failedFor(inEnvelopeId)).toHaveLength(1)
    await waitFor(async () => {
      const [left] = await h.shipperDb
        .sql`select count(*)::int as n from eventlog_claims.payloads where id = ${largeId}`
      return left?.n === 0
    })
    await running.close()
  })

  it('dead-letters a malformed rows message with the reason, at decode or once ClickHouse refuses it; the rest lands', async () => {
    const good = Array.from(
      { length: 5 },
      (_, i) =>
        buildEventMessage({ service: 'crm', environment: 'test' }, { eventType: 'contact.merged', context: { i } })
          .message,
    )
    const [rows] = rowsMessages(good.slice(0, 4))
    const single = good[4]!
    const raw = (messageId: string, body: string, headers: Record<string, unknown> = {}) => ({
      exchange: eventLogRows.exchange.name,
      routingKey: 'eventlog.crm.rows',
      type: eventLogRows.type,
      body: Buffer.from(body),
      messageId,
      headers,
    })
    // Valid framing, then a string that never ends: found only by ClickHouse, when it parses the insert.
    const unterminated = `${ROWS_PREFIX}{"event_id":"${randomUUID()}","service":"crm","event_context":"{${ROWS_SUFFIX}`
    const { running } = await shipInOneBatch(async () => {
      await h.publisher.publishBatch([
        raw('rows-good', rows?.bodyJson as string, rows?.headers),
        raw('rows-not-framed', '{"events":[]}', { [EVENT_COUNT_HEADER]: 1 }),
        raw('rows-unterminated', unterminated, { [EVENT_COUNT_HEADER]: 1 }),
        {
          exchange: eventLogged.exchange.name,
          routingKey: routingKeyOf(eventLogged, single),
          type: eventLogged.type,
          body: single,
          messageId: single.eventId,
        },
      ])
      return []
    })
    await waitForEventsInClickHouse(
      h.ch.client,
      h.ch.database,
      good.map((m) => m.eventId),
    )
    const dead = await waitFor(async () => {
      const messages = await dlqMessages()
      return messages.length === 2 ? messages : undefined
    })
    const reason = (id: string) =>
      String(dead.find((m) => m.properties.message_id === id)?.properties.headers?.[HEADERS.error])
    expect(reason('rows-not-framed')).toContain('rows message body is not {"rows":[<rows>]}')
    expect(reason('rows-unterminated')).toContain('rows message body is not valid JSON')
    expect(await h.counts('contact.merged')).toMatchObject({ rows: 5, distinct: 5 })
    expect(running.sink.batches[0]).toBe(6) // the framed ones: 4 + 1 rows, and the unterminated one's 1
    await waitFor(async () => running.shipper.consumer?.pending() === 0)
    await admin.getMessages(h.vhost.vhost, dlq, 10, false)
    await running.close()
  })
})
