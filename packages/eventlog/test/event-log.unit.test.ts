import { eventLogged } from '@platform/contracts'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import {
  buildEventMessage,
  clickhouseDateTime,
  createRecordingEventLog,
  DEFAULT_CLAIM_CHECK_THRESHOLD,
  envelopes,
  envelopeTexts,
} from '../index.js'

const options = { service: 'billing', environment: 'staging' }
const valid = Compile(eventLogged.schema)

describe('buildEventMessage', () => {
  it('builds a message the contract accepts, with defaults from the service', () => {
    const at = new Date('2024-05-01T10:11:12.999Z')
    const { message, claim } = buildEventMessage(options, {
      eventType: 'order.paid',
      context: { orderId: 7 },
      occurredAt: at,
    })
    expect(valid.Check(message)).toBe(true)
    expect(claim).toBeUndefined()
    expect(message).toMatchObject({
      service: 'billing',
      eventType: 'order.paid',
      eventDateTime: '2024-05-01 10:11:12',
      environment: 'staging',
      metadataVersion: 1,
      context: '{"orderId":7}',
      claimCheck: null,
    })
  })

  it('lets an entry override environment and metadata version', () => {
    const { message } = buildEventMessage(options, {
      eventType: 'refund.created',
      context: null,
      environment: 'production',
      metadataVersion: 3,
    })
    expect(message).toMatchObject({ environment: 'production', metadataVersion: 3, context: 'null' })
  })

  it('keeps a context of exactly the threshold inline and moves one byte more to the claim check', () => {
    const threshold = 100
    const atLimit = 'x'.repeat(threshold - 2) // JSON adds the two quotes
    const inline = buildEventMessage(
      { ...options, claimCheckThresholdBytes: threshold },
      { eventType: 'a', context: atLimit },
    )
    expect(inline.claim).toBeUndefined()
    expect(inline.message.context).toBe(JSON.stringify(atLimit))

    const over = buildEventMessage(
      { ...options, claimCheckThresholdBytes: threshold },
      { eventType: 'a', context: `${atLimit}é` },
    )
    expect(over.message.context).toBeNull()
    expect(over.message.claimCheck).toEqual({ id: over.message.eventId, bytes: threshold + 2 })
    expect(over.claim).toEqual({ id: over.message.eventId, service: 'billing', context: JSON.stringify(`${atLimit}é`) })
    expect(valid.Check(over.message)).toBe(true)
  })

  it('uses 64 KiB as the default threshold', () => {
    expect(DEFAULT_CLAIM_CHECK_THRESHOLD).toBe(65_536)
    const { claim } = buildEventMessage(options, { eventType: 'a', context: 'y'.repeat(65_536) })
    expect(claim).toBeDefined()
  })
})

describe('envelopes', () => {
  const events = (n: number, contextBytes: number) =>
    Array.from(
      { length: n },
      () => buildEventMessage(options, { eventType: 'x', context: 'c'.repeat(contextBytes) }).message,
    )

  it('holds at most maxEvents events each (500 by default), in order', () => {
    const list = events(1203, 10)
    const chunks = envelopes(list, { maxEvents: 500, maxBytes: 10_000_000 })
    expect(chunks.map((c) => c.length)).toEqual([500, 500, 203])
    expect(chunks.flat()).toEqual(list)
    expect(envelopes(list).every((c) => c.length <= 500)).toBe(true)
  })

  it('holds at most 64 KiB of JSON each, and never splits below one event', () => {
    const chunks = envelopes(events(10, 20_000))
    expect(chunks.map((c) => c.length)).toEqual([3, 3, 3, 1])
    for (const chunk of chunks) expect(JSON.stringify({ events: chunk }).length).toBeLessThanOrEqual(64 * 1024)
    expect(envelopes(events(1, 70_000)).map((c) => c.length)).toEqual([1])
  })

  it('envelopeTexts splits as envelopes does and writes the same JSON (non-ASCII counted in bytes)', () => {
    const list = [...events(7, 20_000), ...events(5, 9_000).map((m) => ({ ...m, context: 'é€'.repeat(3_000) }))]
    const chunks = envelopes(list)
    const texts = envelopeTexts(list)
    expect(texts.map((t) => t.count)).toEqual(chunks.map((c) => c.length))
    expect(texts.map((t) => t.text)).toEqual(chunks.map((events) => JSON.stringify({ events })))
    expect(texts.map((t) => t.first)).toEqual(chunks.map((c) => c[0]))
    for (const t of texts) expect(Buffer.byteLength(t.text)).toBeLessThanOrEqual(64 * 1024)
  })
})

describe('clickhouseDateTime', () => {
  it('writes UTC with second precision, the text ClickHouse DateTime reads', () => {
    expect(clickhouseDateTime(new Date('1999-12-31T23:59:59.500+02:00'))).toBe('1999-12-31 21:59:59')
  })

  it('stamps an event without occurredAt with the current second', () => {
    const before = clickhouseDateTime(new Date())
    const { message } = buildEventMessage(options, { eventType: 'x', context: null })
    const after = clickhouseDateTime(new Date())
    expect([before, after]).toContain(message.eventDateTime)
  })
})

describe('the recording test double', () => {
  it('records entries with ids and finds them by type, touching no database', async () => {
    const eventLog = createRecordingEventLog()
    const tx = {} as never // the double never uses the transaction
    const first = await eventLog.record(tx, { eventType: 'order.paid', context: { orderId: 1 } })
    await eventLog.record(tx, { eventType: 'refund.created', context: { refundId: 2 }, metadataVersion: 2 })
    const third = await eventLog.record(tx, { eventType: 'order.paid', context: { orderId: 3 } })
    expect(eventLog.entries).toHaveLength(3)
    expect(eventLog.ofType('order.paid').map((e) => e.eventId)).toEqual([first, third])
    expect(eventLog.ofType('refund.created')[0]).toMatchObject({ context: { refundId: 2 }, metadataVersion: 2 })
    expect(new Set(eventLog.entries.map((e) => e.eventId)).size).toBe(3)
  })
})
