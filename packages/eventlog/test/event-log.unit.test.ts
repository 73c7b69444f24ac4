import { EVENT_COUNT_HEADER, eventLogged, eventLogRows, ROWS_PREFIX, ROWS_SUFFIX } from '@platform/contracts'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import {
  buildEventMessage,
  clickhouseDateTime,
  createRecordingEventLog,
  DEFAULT_CLAIM_CHECK_THRESHOLD,
  EVENT_LOG_COLUMNS,
  packEnvelopes,
  rowJson,
  rowsMessages,
  toRow,
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

describe('packEnvelopes', () => {
  const frame = { prefix: '{"rows":[', suffix: ']}' }
  const texts = (n: number, bytes: number, char = 'c') =>
    Array.from({ length: n }, () => JSON.stringify(char.repeat(bytes)))

  it('holds at most maxEvents texts each (500 by default), in order, joined by commas inside the frame', () => {
    const list = texts(1203, 10).map((_, i) => String(i))
    const packed = packEnvelopes(list, frame, { maxEvents: 500, maxBytes: 10_000_000 })
    expect(packed.map((e) => [e.from, e.count])).toEqual([
      [0, 500],
      [500, 500],
      [1000, 203],
    ])
    expect(packed.flatMap((e) => JSON.parse(e.text).rows)).toEqual(list.map(Number))
    expect(packEnvelopes(list, frame).every((e) => e.count <= 500)).toBe(true)
  })

  it('holds at most 64 KiB of UTF-8 each (non-ASCII counted in bytes), and never splits below one text', () => {
    expect(packEnvelopes(texts(10, 20_000), frame).map((e) => e.count)).toEqual([3, 3, 3, 1])
    const wide = packEnvelopes(texts(12, 3_000, 'é€'), frame)
    expect(wide.map((e) => e.count)).toEqual([4, 4, 4])
    for (const e of wide) expect(Buffer.byteLength(e.text)).toBeLessThanOrEqual(64 * 1024)
    expect(packEnvelopes(texts(1, 70_000), frame).map((e) => e.count)).toEqual([1])
  })
})

describe('rowsMessages', () => {
  const valid = Compile(eventLogRows.schema)
  const built = (n: number, context: unknown) =>
    Array.from({ length: n }, (_, i) => buildEventMessage(options, { eventType: `t.${i}`, context }).message)

  it('writes ClickHouse rows whose keys are exactly the table columns, the count in a header', () => {
    const messages = built(3, { orderId: 'o-1', note: 'quote " and é' })
    const [message, ...more] = rowsMessages(messages)
    expect(more).toEqual([])
    expect(message).toMatchObject({
      exchange: 'eventlog',
      routingKey: 'eventlog.billing.rows',
      type: 'eventlog.rows.v1',
      headers: { [EVENT_COUNT_HEADER]: 3 },
    })
    const text = message?.bodyJson as string
    expect(text.startsWith(ROWS_PREFIX) && text.endsWith(ROWS_SUFFIX)).toBe(true)
    const body = JSON.parse(text)
    expect(valid.Check(body)).toBe(true)
    for (const row of body.rows) expect(Object.keys(row)).toEqual([...EVENT_LOG_COLUMNS])
    expect(body.rows[1]).toEqual({
      event_id: messages[1]?.eventId,
      service: 'billing',
      event_type: 't.1',
      event_date_time: messages[1]?.eventDateTime,
      environment: 'staging',
      event_context: '{"orderId":"o-1","note":"quote \\" and é"}',
      metadata_version: 1,
    })
    // The bytes the shipper hands to ClickHouse: the rows between prefix and suffix, as JSON.stringify writes them.
    expect(text.slice(ROWS_PREFIX.length, -ROWS_SUFFIX.length)).toBe(
      messages.map((m) => JSON.stringify(toRow(m, m.context as string))).join(','),
    )
    expect(text.slice(ROWS_PREFIX.length, -ROWS_SUFFIX.length)).toBe(
      body.rows.map((r: unknown) => JSON.stringify(r)).join(','),
    )
  })

  it('writes a row as JSON.stringify does, for any strings an entry may hold', () => {
    const odd = ['tab\t', 'nl\n', 'quote"', 'back\\slash', '\u2028', '\ud800 lone', 'é€😀', '</script>']
    for (const text of odd) {
      const { message } = buildEventMessage(options, {
        eventType: `t${text}`,
        context: { text },
        environment: `e${text}`,
        metadataVersion: 7,
      })
      const strange = { ...message, eventId: `i${text}`, service: `s${text}`, eventDateTime: `d${text}` }
      for (const m of [message, strange]) {
        expect(rowJson(m, m.context as string)).toBe(JSON.stringify(toRow(m, m.context as string)))
      }
    }
  })

  it('splits at 500 rows and 64 KiB like envelopes of events', () => {
    const messages = rowsMessages(built(1203, 1), { maxEvents: 500, maxBytes: 10_000_000 })
    expect(messages.map((m) => m.headers?.[EVENT_COUNT_HEADER])).toEqual([500, 500, 203])
    // ~200 bytes a row: 64 KiB comes before 500 rows.
    const byDefault = rowsMessages(built(1203, 1))
    expect(byDefault.reduce((sum, m) => sum + Number(m.headers?.[EVENT_COUNT_HEADER]), 0)).toBe(1203)
    for (const m of byDefault) expect(Buffer.byteLength(m.bodyJson as string)).toBeLessThanOrEqual(64 * 1024)
    const big = rowsMessages(built(10, 'x'.repeat(20_000)))
    expect(big.map((m) => m.headers?.[EVENT_COUNT_HEADER])).toEqual([3, 3, 3, 1])
    for (const m of big) expect(Buffer.byteLength(m.bodyJson as string)).toBeLessThanOrEqual(64 * 1024)
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
