import { randomUUID } from 'node:crypto'
import {
  exchanges,
  processorWebhooksConsumer,
  type WebhookReceivedV1,
  webhookReceived,
  webhookReceivedEnvelope,
  webhookStatusChanged,
} from '@platform/contracts'
import { consumerEventLog, createEventLog, eventIdFor } from '@platform/eventlog'
import { createInbox } from '@platform/inbox'
import { createLogger } from '@platform/logging'
import {
  connectBroker,
  createPublisher,
  dlqName,
  type IncomingMessage,
  type Publisher,
  routingKeyOf,
  startConsumer,
} from '@platform/messaging'
import { createRegistry } from '@platform/metrics'
import { migrateService } from '@platform/service'
import { createTestSchema, createTestVhost, rabbitAdmin, type TestSchema, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processorMetrics } from '../src/metrics.js'
import { replaysOf } from '../src/status.js'
import { createWebhookHandler } from '../src/webhook-handler.js'
import { withRetry } from '../src/webhook-processing.js'

/**
 * The incident: a webhook's `webhook.dead_lettered` record reached ClickHouse twice around a SIGKILL. The processor
 * records it in its own transaction, then the consumer publishes the DLQ copy and acks; a crash in between
 * redelivers the message, which fails and dead-letters again. Here the processor's real handler and consumer run,
 * and the consumer's connection drops right after the handler (record committed, nothing settled or acked), the
 * broker's view of a SIGKILL. The outbox (no relay runs) must then hold one dead_lettered record for the first
 * dead-lettering, and one more, with an id of its own, after an operator's replay dead-letters it again.
 */
const logger = createLogger({ service: 'processor-test', level: 'silent' })
const def = withRetry(processorWebhooksConsumer, '100', 2)
let db: TestSchema
const admin = rabbitAdmin()

beforeAll(async () => {
  db = await createTestSchema('processor_dlcrash')
  await migrateService(db.sql, db.schema, new URL('../migrations/', import.meta.url))
})
afterAll(async () => {
  await db?.drop()
})

/** The dead_lettered records of a webhook waiting in the outbox: event id and replay count of each. */
const deadLettered = (id: string) =>
  db.sql<{ event_id: string; replays: number; attempts: number }[]>`
    select body->>'eventId' as event_id, ((body->>'context')::json->>'replays')::int as replays,
      ((body->>'context')::json->>'attempts')::int as attempts
    from outbox
    where type = 'eventlog.recorded.v1' and body->>'eventType' = 'webhook.dead_lettered'
      and (body->>'context')::json->>'id' = ${id}
    order by replays`

interface Rig {
  queue: string
  replay(): Promise<string>
  runs: Pick<IncomingMessage, 'attempt' | 'redelivered'>[]
  crashes: () => number
  publisher: Publisher
  inDlq(): Promise<number>
  close(): Promise<void>
}

/**
 * The processor's webhook consumer (its real handler, the envelope type ingest publishes) on a vhost of its own. The
 * first delivery of the first trip's dead-lettering attempt (`crashAt`) has its connection dropped after the handler.
 */
async function startRig(name: string, crashAt: number): Promise<Rig> {
  const vhost = await createTestVhost(`dlcrash_${name}`)
  const queue = def.queue
  const broker = connectBroker({ url: vhost.amqpUrl, name: `dlcrash-${name}` })
  const publisher = createPublisher(broker, { exchanges: [exchanges.webhooks, exchanges.webhookStatus] })
  const handle = createWebhookHandler({
    sql: db.sql,
    inbox: createInbox(db.sql, queue),
    eventLog: consumerEventLog(createEventLog({ service: 'processor', environment: 'test' }), queue),
    metrics: processorMetrics(createRegistry()),
    maxAttempts: def.retry.maxAttempts,
    processingDelayMs: () => 0,
    notifyDownstream: false,
    publishStatus: (report) => publisher.publishMessage(webhookStatusChanged, report),
  })
  const runs: Rig['runs'] = []
  let crashes = 0
  // The catalog's definition brings the schema and the envelope, as in the service.
  const consumer = startConsumer(broker, {
    def,
    logger,
    handler: async (message) => {
      runs.push({ attempt: message.attempt, redelivered: message.redelivered })
      try {
        await handle(message)
      } finally {
        if (message.attempt === crashAt && !message.redelivered && replaysOf(message) === 0) {
          crashes++
          await new Promise((resolve) => {
            broker.once('disconnect', resolve)
            broker.reconnect()
          })
        }
      }
    },
  })
  await consumer.ready()
  return {
    queue,
    runs,
    crashes: () => crashes,
    publisher,
    inDlq: async () => (await admin.getMessages(vhost.vhost, dlqName(queue), 5)).length,
    replay: () => admin.moveMessages(vhost.vhost, dlqName(queue), queue),
    async close() {
      await consumer.stop()
      await publisher.close()
      await broker.close()
      await vhost.delete()
    },
  }
}

function webhook(simulate: Record<string, unknown>): WebhookReceivedV1 {
  const id = randomUUID()
  return {
    id,
    source: 'orders',
    eventId: `ord-${id}`,
    eventType: 'order.created',
    format: 'envelope',
    receivedAt: new Date().toISOString(),
    payload: { simulate },
  }
}

describe('a webhook dead-lettered with a crash between its dead_lettered record and the ack', () => {
  it('single message, last attempt: one record on the redelivery, a second (own id) when a replay dies again', async () => {
    const rig = await startRig('single', 2)
    try {
      const body = webhook({ failAttempts: 99 }) // every attempt fails; attempt 2 is the last
      await rig.publisher.publishMessage(webhookReceived, body, { messageId: body.id })
      await waitFor(async () => (await rig.inDlq()) === 1, { timeoutMs: 20_000, message: 'dead-lettered' })
      expect(rig.crashes()).toBe(1)
      expect(rig.runs.map((r) => [r.attempt, r.redelivered])).toEqual([
        [1, false],
        [2, false],
        [2, true],
      ])
      const handled = { consumer: rig.queue, messageId: body.id }
      const first = { event_id: eventIdFor(handled, 'webhook.dead_lettered', 0), replays: 0, attempts: 2 }
      expect(await deadLettered(body.id)).toEqual([first])

      // The operator moves it back (docs/runbooks/dlq-replay.md); both attempts fail again: a second dead-lettering.
      await rig.replay()
      await waitFor(async () => rig.runs.length === 5 && (await rig.inDlq()) === 1, { timeoutMs: 20_000 })
      const second = { event_id: eventIdFor(handled, 'webhook.dead_lettered', 1), replays: 1, attempts: 2 }
      expect(await deadLettered(body.id)).toEqual([first, second])
    } finally {
      await rig.close()
    }
  })

  it('in a batch delivery, permanent failure: one record on the redelivery, none more when the replay passes', async () => {
    const rig = await startRig('batch', 1)
    try {
      const body = webhook({ failUntilReplayed: true })
      const batch = { messages: [{ id: body.id, correlationId: null, body }] }
      await rig.publisher.publish({
        exchange: webhookReceivedEnvelope.exchange.name,
        routingKey: routingKeyOf(webhookReceivedEnvelope, batch),
        type: webhookReceivedEnvelope.type,
        body: batch,
        messageId: randomUUID(),
      })
      await waitFor(async () => (await rig.inDlq()) === 1, { timeoutMs: 20_000, message: 'dead-lettered' })
      expect(rig.crashes()).toBe(1)
      expect(rig.runs.map((r) => [r.attempt, r.redelivered])).toEqual([
        [1, false],
        [1, true],
      ])
      const first = {
        event_id: eventIdFor({ consumer: rig.queue, messageId: body.id }, 'webhook.dead_lettered', 0),
        replays: 0,
        attempts: 1,
      }
      expect(await deadLettered(body.id)).toEqual([first])

      await rig.replay()
      await waitFor(async () => (await db.sql`select 1 from processed_events where id = ${body.id}`).length === 1, {
        timeoutMs: 20_000,
        message: 'the replay processed',
      })
      expect(await deadLettered(body.id)).toEqual([first])
    } finally {
      await rig.close()
    }
  })
})
