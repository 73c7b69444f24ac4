import { describe, expect, it } from 'vitest'
import {
  consumerEventLog,
  createRecordingEventLog,
  eventIdFor,
  MESSAGE_EVENT_NAMESPACE,
  messageEventLog,
  uuidV5,
} from '../index.js'

/** RFC 9562's UUID layout with version 5 and the RFC variant (10xx). */
const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const handled = { consumer: 'processor.webhooks', messageId: '7f1c2f55-3a4b-4c1e-9d6e-2f0a1b2c3d4e' }
const tx = undefined as never

describe('uuidV5', () => {
  it('is the standard name-based UUID: the DNS namespace example of RFC 9562 and Python uuid.uuid5', () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'www.example.com') == 2ed6657d-e927-568b-95e1-2665a8aea6a2
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe(
      '2ed6657d-e927-568b-95e1-2665a8aea6a2',
    )
  })

  it('refuses a namespace that is not a UUID', () => {
    expect(() => uuidV5('not-a-uuid', 'x')).toThrow(/not a UUID/)
  })
})

describe('eventIdFor', () => {
  it('gives the same id for the same message, type and occurrence (a redelivery records the same event)', () => {
    const id = eventIdFor(handled, 'webhook.dead_lettered', 0)
    expect(id).toMatch(UUID_V5)
    expect(eventIdFor({ ...handled }, 'webhook.dead_lettered', 0)).toBe(id)
    expect(eventIdFor(handled, 'webhook.dead_lettered')).toBe(id) // occurrence defaults to 0
    expect(id).toBe(
      uuidV5(
        MESSAGE_EVENT_NAMESPACE,
        JSON.stringify([handled.consumer, handled.messageId, 'webhook.dead_lettered', '0']),
      ),
    )
  })

  it('gives different ids for another type, occurrence, message or consumer', () => {
    const ids = [
      eventIdFor(handled, 'order.paid', 0),
      eventIdFor(handled, 'order.paid', 1),
      eventIdFor(handled, 'refund.created', 0),
      eventIdFor({ ...handled, messageId: 'another-message' }, 'order.paid', 0),
      eventIdFor({ ...handled, consumer: 'analytics.webhooks' }, 'order.paid', 0),
      // Field boundaries cannot be shifted to make two tuples one name.
      eventIdFor({ consumer: 'a', messageId: 'b' }, 'c.d', 0),
      eventIdFor({ consumer: 'a', messageId: 'b","c' }, 'd', 0),
    ]
    for (const id of ids) expect(id).toMatch(UUID_V5)
    expect(new Set(ids).size).toBe(ids.length)
  })
})

describe('messageEventLog', () => {
  it('numbers the events of a type in recording order, and a new handling of the message repeats the ids', async () => {
    const recorded = createRecordingEventLog()
    const first = messageEventLog(recorded, handled)
    const a = await first.record(tx, { eventType: 'order.paid', context: 1 })
    const b = await first.record(tx, { eventType: 'order.paid', context: 2 })
    const c = await first.record(tx, { eventType: 'refund.created', context: 3 })
    expect([a, b, c]).toEqual([
      eventIdFor(handled, 'order.paid', 0),
      eventIdFor(handled, 'order.paid', 1),
      eventIdFor(handled, 'refund.created', 0),
    ])
    // The redelivery: a recorder of its own, the same records, the same ids; the event log keeps each once.
    const again = messageEventLog(recorded, handled)
    expect(
      await again.recordMany(tx, [
        { eventType: 'order.paid', context: 1 },
        { eventType: 'order.paid', context: 2 },
        { eventType: 'refund.created', context: 3 },
      ]),
    ).toEqual([a, b, c])
    expect(recorded.entries.map((e) => e.eventId)).toEqual([a, b, c])
  })

  it('takes an explicit occurrence without advancing the count, and keeps an entry’s own id', async () => {
    const recorded = createRecordingEventLog()
    const log = messageEventLog(recorded, handled)
    const replay1 = await log.record(tx, { eventType: 'webhook.dead_lettered', occurrence: 1, context: null })
    const auto0 = await log.record(tx, { eventType: 'webhook.dead_lettered', context: null })
    const own = await log.record(tx, {
      eventType: 'x',
      eventId: '00000000-0000-4000-8000-000000000001',
      context: null,
    })
    expect(replay1).toBe(eventIdFor(handled, 'webhook.dead_lettered', 1))
    expect(auto0).toBe(eventIdFor(handled, 'webhook.dead_lettered', 0))
    expect(own).toBe('00000000-0000-4000-8000-000000000001')
    expect(recorded.entries.every((e) => !('occurrence' in e))).toBe(true)
  })

  it('is what consumerEventLog hands out per message', async () => {
    const recorded = createRecordingEventLog()
    const consumer = consumerEventLog(recorded, handled.consumer)
    const id = await consumer.of({ messageId: handled.messageId }).record(tx, { eventType: 'order.paid', context: {} })
    expect(id).toBe(eventIdFor(handled, 'order.paid', 0))
  })
})
