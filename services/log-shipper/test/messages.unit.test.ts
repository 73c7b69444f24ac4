import { EVENT_COUNT_HEADER, eventLogBatch, eventLogged, eventLogRows } from '@platform/contracts'
import { buildEventMessage, rowsMessages } from '@platform/eventlog'
import { describe, expect, it } from 'vitest'
import { decodeMessage, parsedRows } from '../src/messages.js'
import { sinkBatch } from '../src/sink.js'

const log = { service: 'crm', environment: 'test' }
const events = (n: number) =>
  Array.from({ length: n }, (_, i) => buildEventMessage(log, { eventType: 'x', context: { i } }).message)
/** The one rows message of n events, as the producer writes it. */
const rowsMessage = (n: number) => {
  const [message] = rowsMessages(events(n))
  return { headers: message?.headers ?? {}, body: message?.bodyJson ?? '' }
}
const rows = (headers: Record<string, unknown>, body: string) =>
  decodeMessage(Buffer.from(body), { type: eventLogRows.type, headers })

describe('decoding the shipper messages', () => {
  it('takes a rows message as the bytes between prefix and suffix, without parsing them', () => {
    const message = rowsMessage(3)
    const decoded = rows(message.headers, message.body)
    expect(decoded).toMatchObject({ kind: 'rows', count: 3 })
    const json = decoded.kind === 'rows' ? decoded.json : Buffer.alloc(0)
    expect(json.toString()).toBe(message.body.slice('{"rows":['.length, -']}'.length))
    // Not parsed: framed rows that are not JSON pass here, and fail when ClickHouse reads them (poison.int.test.ts).
    expect(rows({ [EVENT_COUNT_HEADER]: 1 }, '{"rows":[{"event_id":"oops]}')).toMatchObject({ kind: 'rows', count: 1 })
  })

  it('parses and checks a rows message that has no usable count header', () => {
    const { body } = rowsMessage(2)
    expect(rows({}, body)).toMatchObject({ kind: 'rows', count: 2 })
    expect(rows({ [EVENT_COUNT_HEADER]: 'many' }, body)).toMatchObject({ count: 2 })
    expect(() => rows({}, '{"rows":[{"event_id":"oops]}')).toThrow('message body is not valid JSON')
    expect(() => rows({}, '{"rows":[{"event_id":"not-a-uuid"}]}')).toThrow('breaks its schema')
  })

  it('refuses a rows message that is not framed as one', () => {
    for (const body of ['{"events":[]}', '{"rows":[]}', '{"rows": [{}]}', '{"rows":[{}]} ', '']) {
      expect(() => rows({ [EVENT_COUNT_HEADER]: 1 }, body)).toThrow('rows message body is not {"rows":[<rows>]}')
    }
  })

  it('parses and checks single events and envelopes of events, as before', () => {
    const [one, two] = events(2)
    const decode = (type: string, body: unknown) =>
      decodeMessage(Buffer.from(JSON.stringify(body)), { type, headers: {} })
    expect(decode(eventLogged.type, one)).toEqual({ kind: 'events', events: [one] })
    expect(decode(eventLogBatch.type, { events: [one, two] })).toEqual({ kind: 'events', events: [one, two] })
    expect(() => decode(eventLogged.type, { ...one, eventId: 7 })).toThrow('breaks its schema')
  })
})

describe('a batch for the sink', () => {
  it('offers the rows as JSONEachRow bytes (JSON parts as they came) and as objects (parsed on demand)', () => {
    const message = rowsMessage(3)
    const decoded = rows(message.headers, message.body)
    if (decoded.kind !== 'rows') throw new Error('not rows')
    const [single] = events(1)
    const row = parsedRows(decoded.json)[0]!
    const batch = sinkBatch([{ json: decoded.json, count: 3 }, { row: { ...row, event_id: single!.eventId } }])
    expect(batch.count).toBe(4)
    const lines = batch.jsonEachRow().toString().split('\n')
    expect(lines).toEqual([decoded.json.toString(), JSON.stringify({ ...row, event_id: single!.eventId }), ''])
    expect(batch.rows().map((r) => r.event_id)).toEqual([
      ...parsedRows(decoded.json).map((r) => r.event_id),
      single!.eventId,
    ])
  })
})
