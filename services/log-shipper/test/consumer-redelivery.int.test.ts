import { randomUUID } from 'node:crypto'
import { consumerEventLog, eventIdFor } from '@platform/eventlog'
import { eventsInClickHouse } from '@platform/eventlog/testing'
import {
  type Broker,
  connectBroker,
  createPublisher,
  defineConsumer,
  defineExchange,
  dlqName,
  PermanentError,
  type Publisher,
  startConsumer,
} from '@platform/messaging'
import { rabbitAdmin, sleep, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness, logger } from './helpers.js'

/**
 * A consumer that records an event-log entry and dies before its ack (here: its connection drops, which the broker
 * sees as a SIGKILL sees it: the delivery was never acked) handles the redelivered message again and records the
 * entry again. Followed to ClickHouse: one row per entry, under FINAL and without it, for an acked message and for
 * one that dead-letters. The event_log key holds event_date_time, so a second recording a second later with any
 * id, random or derived, would be a second row that FINAL keeps: the second recording must write nothing.
 */
let h: Harness
let broker: Broker
let publisher: Publisher
const exchange = defineExchange('orders')
const def = defineConsumer({
  queue: 'billing.orders',
  bindings: [{ exchange, routingKey: 'orders.#' }],
  retry: { delaysMs: [100], maxAttempts: 3 },
})

beforeAll(async () => {
  h = await createHarness('redeliv')
  await h.startShipper()
  await h.relay().start()
  // The consumer's own connection: dropping it leaves the relay's publisher alone.
  broker = connectBroker({ url: h.vhost.amqpUrl, name: 'redeliv-consumer' })
  publisher = createPublisher(broker, { exchanges: [exchange] })
})
afterAll(async () => {
  await publisher?.close()
  await broker?.close()
  await h?.close()
})

/** Closes the consumer's connection and waits until the client knows: its channel can neither settle nor ack. */
async function dropConnection(): Promise<void> {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the consumer connection did not drop')), 10_000)
    broker.once('disconnect', () => resolve(clearTimeout(timer)))
    broker.reconnect()
  })
}

describe('a consumer that crashes between recording an event and its ack', () => {
  it('records it once: one row in ClickHouse for an acked and for a dead-lettered message', async () => {
    const events = consumerEventLog(h.eventLog, def.queue)
    const handlings: { messageId: string; redelivered: boolean }[] = []
    const consumer = startConsumer<{ order: string; fail: boolean }>(broker, {
      def,
      logger,
      // One message at a time: each first handling drops a connection that carries only its own delivery.
      prefetch: 1,
      handler: async (m) => {
        handlings.push({ messageId: m.messageId, redelivered: m.redelivered })
        const eventLog = events.of(m)
        await h.producerDb.sql.begin((tx) =>
          eventLog.record(tx, {
            eventType: m.body.fail ? 'order.dead_lettered' : 'order.shipped',
            context: { order: m.body.order, redelivered: m.redelivered },
          }),
        )
        if (!m.redelivered) {
          await sleep(1100) // the redelivery records in a later second: another event_date_time
          await dropConnection()
        }
        if (m.body.fail) throw new PermanentError('order cannot ship')
      },
    })
    await consumer.ready()
    const ids = { shipped: randomUUID(), dead: randomUUID() }
    for (const [messageId, body] of [
      [ids.shipped, { order: 'o-1', fail: false }],
      [ids.dead, { order: 'o-2', fail: true }],
    ] as const) {
      await publisher.publish({ exchange: exchange.name, routingKey: 'orders.x', body, messageId })
    }

    // Each handled twice (the second time redelivered), then acked or dead-lettered once.
    await waitFor(() => handlings.filter((x) => x.redelivered).length === 2, { timeoutMs: 20_000 })
    expect(handlings.filter((x) => x.messageId === ids.shipped).map((x) => x.redelivered)).toEqual([false, true])
    expect(handlings.filter((x) => x.messageId === ids.dead).map((x) => x.redelivered)).toEqual([false, true])
    await waitFor(async () => (await rabbitAdmin().getMessages(h.vhost.vhost, dlqName(def.queue), 5)).length === 1)
    // Everything recorded is published, then given the shipper's flush interval (1 s) and more to land.
    await waitFor(async () => (await h.producerDb.sql`select 1 from outbox limit 1`).length === 0)
    await sleep(2500)

    const shipped = eventIdFor({ consumer: def.queue, messageId: ids.shipped }, 'order.shipped')
    const dead = eventIdFor({ consumer: def.queue, messageId: ids.dead }, 'order.dead_lettered')
    expect(await h.counts('order.shipped')).toEqual({ rows: 1, distinct: 1, raw: 1 })
    expect(await h.counts('order.dead_lettered')).toEqual({ rows: 1, distinct: 1, raw: 1 })
    const rows = await eventsInClickHouse(h.ch.client, h.ch.database, [shipped, dead])
    // The first handling's record is the one kept.
    expect(rows.map((r) => [r.event_id, JSON.parse(r.event_context).redelivered]).sort()).toEqual(
      [
        [shipped, false],
        [dead, false],
      ].sort(),
    )
    await consumer.stop()
  })
})
