import { randomUUID } from 'node:crypto'
import {
  processorNotifyConsumer,
  processorWebhooksConsumer,
  type WebhookReceivedV1,
  webhookReceived,
} from '@platform/contracts'
import type { ServiceApp } from '@platform/http'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { type Broker, connectBroker, createPublisher, type Publisher } from '@platform/messaging'
import { rabbitAdmin, waitFor } from '@platform/testing'
import { buildApp } from '../src/app.js'
import { loadServiceConfig } from '../src/config.js'

export interface ProcessorHarness {
  app: ServiceApp
  env: ServiceTestEnv
  /** Publishes an accepted webhook as ingest would. */
  send(event: Omit<WebhookReceivedV1, 'id' | 'receivedAt'>): Promise<string>
  close(): Promise<void>
}

/** The processor as `buildApp` makes it, with short retry tiers, and a publisher standing in for ingest. */
export async function startProcessor(overrides: Record<string, string> = {}): Promise<ProcessorHarness> {
  const env = await createServiceTestEnv('processor', {
    LOG_LEVEL: 'silent',
    PROCESSING_DELAY_MS: '5',
    WEBHOOK_RETRY_DELAYS_MS: '100,200',
    NOTIFY_RETRY_DELAYS_MS: '50,100,1000',
    ...overrides,
  })
  const app = await buildApp(loadServiceConfig(env.env))
  await app.ready()
  await consumersBound(env.vhost.vhost)
  const broker: Broker = connectBroker({ url: env.vhost.amqpUrl, name: 'test-ingest' })
  const publisher: Publisher = createPublisher(broker, { exchanges: [webhookReceived.exchange] })
  return {
    app,
    env,
    async send(event) {
      const id = randomUUID()
      const body = { ...event, id, receivedAt: new Date().toISOString() }
      await publisher.publishMessage(webhookReceived, body, { messageId: id })
      return id
    },
    async close() {
      await publisher.close()
      await broker.close()
      await app.close()
      await env.cleanup()
    },
  }
}

/** The processor declares its queues once connected: messages published before that would be dropped. */
export async function consumersBound(vhost: string): Promise<void> {
  for (const queue of [processorWebhooksConsumer.queue, processorNotifyConsumer.queue]) {
    await waitFor(async () => {
      const bindings = await rabbitAdmin().call<{ source: string }[]>(
        'GET',
        `/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}/bindings`,
      )
      return bindings.some((b) => b.source === 'webhooks')
    })
  }
}

/** A Stripe-shaped charge.succeeded event as the processor receives it. */
export function chargeEvent(orderId: string, amount = 1000): Omit<WebhookReceivedV1, 'id' | 'receivedAt'> {
  const eventId = `evt_${randomUUID()}`
  return {
    source: 'payment',
    eventId,
    eventType: 'charge.succeeded',
    format: 'stripe',
    payload: {
      id: eventId,
      type: 'charge.succeeded',
      created: 1_700_000_000,
      data: {
        object: { id: `ch_${randomUUID().slice(0, 8)}`, amount, currency: 'eur', metadata: { order_id: orderId } },
      },
    },
  }
}
