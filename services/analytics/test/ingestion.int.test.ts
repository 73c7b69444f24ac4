import { randomUUID } from 'node:crypto'
import {
  ACTIVITY_BATCH_MAX_EVENTS,
  analyticsActivityBatchConsumer,
  analyticsActivityConsumer,
} from '@platform/contracts'
import { expectProblem } from '@platform/http/testing'
import { connectBroker, createPublisher } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AnalyticsHarness,
  activityPublisher,
  consumerBound,
  DAY_MS,
  dayFromToday,
  event,
  startAnalytics,
  TOKEN,
} from './harness.js'

/**
 * Both ways in: POST /v1/events (token, batch limits, a bad batch stores nothing, retries count once) and the
 * activity consumer (redeliveries and republished events count once, bad messages go to the DLQ).
 */
let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics()
})
afterAll(async () => {
  await h?.close()
})

const count = async (table: 'events' | 'user_day') =>
  Number((await h.env.schema.sql.unsafe(`select count(*)::int as n from ${table}`))[0]?.n)

/** `n` events of distinct users on the day before yesterday, spread over the day. */
const batchOf = (n: number, prefix = randomUUID().slice(0, 8)) => {
  const start = Date.parse(`${dayFromToday(-2)}T00:00:00Z`)
  return Array.from({ length: n }, (_, i) =>
    event(`${prefix}-${i % 997}`, new Date(start + Math.floor((i * DAY_MS) / n)).toISOString()),
  )
}

describe('POST /v1/events', () => {
  it('refuses a request without the token, or with another one, before reading the batch', async () => {
    for (const token of ['', 'not-the-token-at-all-0000']) {
      const res = await h.post(batchOf(1), token)
      expectProblem(res, 401, { type: 'https://event-platform.dev/problems/invalid-ingest-token' })
      expect(res.headers['www-authenticate']).toBe('Bearer realm="analytics"')
    }
    expect(await count('events')).toBe(0)
  })

  it('stores a batch of 10,000 after the commit, and a retry of it counts nothing twice', async () => {
    const batch = batchOf(10_000)
    const first = await h.post(batch)
    expect(first.json()).toEqual({ received: 10_000, stored: 10_000, duplicates: 0 })
    const before = await h.dau(dayFromToday(-2), dayFromToday(-2))
    // Two retries at once, as a client whose connection broke might send them.
    const retries = await Promise.all([h.post(batch), h.post(batch)])
    expect(retries.map((r) => r.json())).toEqual(
      [0, 1].map(() => ({ received: 10_000, stored: 0, duplicates: 10_000 })),
    )
    expect(await h.dau(dayFromToday(-2), dayFromToday(-2))).toEqual(before)
    expect(before[0]?.users).toBeGreaterThanOrEqual(997)
  })

  it('stores each event of two overlapping batches sent at once exactly once', async () => {
    const batch = batchOf(3000)
    const [a, b] = await Promise.all([h.post(batch.slice(0, 2000)), h.post(batch.slice(1000))])
    expect(a.json<{ stored: number }>().stored + b.json<{ stored: number }>().stored).toBe(3000)
  })

  it('refuses a batch with one bad event whole, naming the item', async () => {
    const before = await count('events')
    const batch = batchOf(1000)
    batch[500] = { ...batch[500]!, eventId: 'not-a-uuid' }
    const res = await h.post(batch)
    expectProblem(res, 400, { type: 'https://event-platform.dev/problems/invalid-body' })
    expect(res.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer).toBe('/events/500/eventId')

    const missing = batchOf(10)
    delete (missing[7] as { userId?: string }).userId
    const res2 = await h.post(missing)
    expect(res2.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer).toBe('/events/7/userId')
    expect(await count('events')).toBe(before)
  })

  it.each([
    // PostgreSQL refuses both in jsonb: a 400 before the statement, never a 503 "retry later".
    [
      'a lone surrogate escape in a property',
      (e: string) => e.replace('"properties":{', '"properties":{"x":"\\ud800",'),
      'invalid-characters',
    ],
    [
      'an escaped NUL in the user id',
      (e: string) => e.replace(/"userId":"/, '"userId":"a\\u0000'),
      'invalid-characters',
    ],
    [
      'properties nested 10,000 levels',
      (e: string) => e.replace('"properties":{', `"properties":{"x":${'['.repeat(10_000)}${']'.repeat(10_000)},`),
      'json-too-deep',
    ],
  ])('refuses a batch holding %s with 400, and stores none of it', async (_name, spoil, type) => {
    const before = await count('events')
    const batch = batchOf(20).map((e) => JSON.stringify({ ...e, properties: { a: 1 } }))
    batch[13] = spoil(batch[13] as string)
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: `{"events":[${batch.join(',')}]}`,
    })
    expectProblem(res, 400, { type: `https://event-platform.dev/problems/${type}` })
    expect(await count('events')).toBe(before)
  })

  it('refuses a batch with an event older than the window, or in the future, whole', async () => {
    const before = await count('events')
    for (const [index, performedAt] of [
      [700, new Date(Date.now() - 91 * DAY_MS).toISOString()],
      [3, new Date(Date.now() + 3_600_000).toISOString()],
    ] as const) {
      const batch = batchOf(1000)
      batch[index] = { ...batch[index]!, performedAt }
      const res = await h.post(batch)
      expectProblem(res, 400, { type: 'https://event-platform.dev/problems/event-out-of-range' })
      expect(res.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer).toBe(`/events/${index}/performedAt`)
    }
    expect(await count('events')).toBe(before)
  })

  it('refuses more than 10,000 events, and an empty batch', async () => {
    expect((await h.post(batchOf(10_001))).statusCode).toBe(400)
    expect((await h.post([])).statusCode).toBe(400)
  })
})

describe('the activity consumer', () => {
  let feed: Awaited<ReturnType<typeof activityPublisher>>
  beforeAll(async () => {
    await consumerBound(h.env.vhost.vhost)
    feed = await activityPublisher(h.env)
  })
  afterAll(async () => {
    await feed?.close()
  })

  const stored = async (eventIds: string[]) =>
    Number(
      (await h.env.schema.sql`select count(*)::int as n from events where event_id = any(${eventIds}::uuid[])`)[0]?.n,
    )

  it('stores what feed publishes, once, whether the message is redelivered or the event republished', async () => {
    const events = batchOf(200)
    const ids = await Promise.all(events.map((e) => feed.publish(e)))
    // The same messages again (a relay that published and crashed before deleting its rows) ...
    await Promise.all(events.slice(0, 50).map((e, i) => feed.publish(e, ids[i])))
    // ... and the same events in new messages (a producer that sent them twice).
    await Promise.all(events.slice(50, 100).map((e) => feed.publish(e)))
    const eventIds = events.map((e) => e.eventId)
    await waitFor(async () => (await stored(eventIds)) === 200, { message: 'all 200 stored' })
    // Every copy has been handled once the queue is empty.
    await waitFor(async () => {
      const q = await rabbitAdmin().queue(h.env.vhost.vhost, analyticsActivityConsumer.queue)
      return q.messages === 0
    })
    expect(await stored(eventIds)).toBe(200)
    const day = dayFromToday(-2)
    const raw = await h.repo.raw.dau(day, day)
    expect(await h.dau(day, day)).toEqual(raw)
  })

  it('dead-letters a body that breaks the schema and an event out of the window, and stores the rest', async () => {
    const good = batchOf(3)
    const tooOld = event('old-user', new Date(Date.now() - 200 * DAY_MS).toISOString())
    for (const e of good) await feed.publish(e)
    await feed.publish(tooOld)
    // A body that is not ActivityRecordedV1, sent around the typed publisher.
    const broker = connectBroker({ url: h.env.vhost.amqpUrl, name: 'test-raw' })
    const raw = createPublisher(broker)
    await raw.publish({
      exchange: 'activity',
      routingKey: 'activity.login',
      body: { eventId: 'nope', userId: 'x' },
      messageId: randomUUID(),
      type: 'activity.recorded.v1',
    })
    await raw.close()
    await broker.close()
    await waitFor(async () => (await stored(good.map((e) => e.eventId))) === 3)
    const dlq = await waitFor(async () => {
      const messages = await rabbitAdmin().getMessages(h.env.vhost.vhost, `${analyticsActivityConsumer.queue}.dlq`)
      return messages.length === 2 ? messages : undefined
    })
    expect(dlq.map((m) => String(m.properties.headers?.['x-error'])).sort()).toEqual([
      expect.stringMatching(/schema/),
      expect.stringMatching(/days ago/),
    ])
    expect(await stored([tooOld.eventId])).toBe(0)
  })

  const drained = (queue: string) =>
    waitFor(async () => (await rabbitAdmin().queue(h.env.vhost.vhost, queue)).messages === 0, {
      message: `${queue} drained`,
    })

  it('stores an activity.batch.v1 message whole and once: redelivered, or its events sent again singly', async () => {
    const events = batchOf(ACTIVITY_BATCH_MAX_EVENTS)
    const id = await feed.publishBatch(events)
    // The same message again (a producer's retry after a lost confirm) ...
    await feed.publishBatch(events, id)
    // ... a second batch overlapping the first, and some of its events as single messages.
    const more = batchOf(100)
    await feed.publishBatch([...events.slice(0, 300), ...more])
    for (const e of events.slice(900)) await feed.publish(e)
    const eventIds = [...events, ...more].map((e) => e.eventId)
    await waitFor(async () => (await stored(eventIds)) === 1_100, { message: 'all 1,100 stored' })
    await drained(analyticsActivityBatchConsumer.queue)
    await drained(analyticsActivityConsumer.queue)
    expect(await stored(eventIds)).toBe(1_100)
    const day = dayFromToday(-2)
    expect(await h.dau(day, day)).toEqual(await h.repo.raw.dau(day, day))
  })

  it('dead-letters a batch whole: an event out of the window (named), too many events, a bad event', async () => {
    const outOfWindow = [...batchOf(3), event('old-user', new Date(Date.now() - 200 * DAY_MS).toISOString())]
    await feed.publishBatch(outOfWindow)
    const broker = connectBroker({ url: h.env.vhost.amqpUrl, name: 'test-raw' })
    const raw = createPublisher(broker)
    const publishRaw = (body: unknown) =>
      raw.publish({
        exchange: 'activity',
        routingKey: 'activity-batch',
        body,
        messageId: randomUUID(),
        type: 'activity.batch.v1',
      })
    const tooMany = batchOf(ACTIVITY_BATCH_MAX_EVENTS + 1)
    await publishRaw({ events: tooMany })
    const badOne = batchOf(2)
    await publishRaw({ events: [...badOne, { eventId: 'nope', userId: 'x' }] })
    await raw.close()
    await broker.close()
    const dlq = await waitFor(async () => {
      const messages = await rabbitAdmin().getMessages(h.env.vhost.vhost, `${analyticsActivityBatchConsumer.queue}.dlq`)
      return messages.length === 3 ? messages : undefined
    })
    expect(dlq.map((m) => String(m.properties.headers?.['x-error'])).sort()).toEqual([
      expect.stringMatching(/schema: \/events must not have more than 1000 items/),
      expect.stringMatching(/schema: \/events\/2 /),
      expect.stringMatching(/event 3 \(.+\): performedAt is more than 90 days ago .*nothing of the message was stored/),
    ])
    expect(await stored([...outOfWindow, ...tooMany, ...badOne].map((e) => e.eventId))).toBe(0)
  })
})

it('counts events by way and result on /metrics', async () => {
  const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body
  expect(metrics).toMatch(/analytics_events_total\{[^}]*way="http"[^}]*result="stored"[^}]*\} [1-9]/)
  expect(metrics).toMatch(/analytics_events_total\{[^}]*way="consumer"[^}]*result="stored"[^}]*\} [1-9]/)
  expect(metrics).toMatch(/analytics_partitions_ahead\{[^}]*\} [1-9]/)
})
