import { type Static, Type } from '@platform/config'
import {
  exchanges,
  processorNotifyConsumer,
  processorWebhooksConsumer,
  webhookStatusChanged,
} from '@platform/contracts'
import { consumerEventLog } from '@platform/eventlog'
import type { ServiceApp, ServiceRuntime } from '@platform/http'
import { createInbox } from '@platform/inbox'
import { type ConsumerDef, declareExchanges, defineConsumer, startConsumer } from '@platform/messaging'
import { createDownstreamHandler } from './downstream.js'
import { processorMetrics } from './metrics.js'
import { createWebhookHandler } from './webhook-handler.js'

const DELAYS = '^\\d+(,\\d+)*$'

/** The processor's webhook settings (spread into the service's config schema). */
export const processingEnv = {
  /** Where `order.paid` notifications go; empty: no call is made. */
  DOWNSTREAM_URL: Type.String({ default: '', pattern: '^(https?://.+)?$' }),
  DOWNSTREAM_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 1 }),
  /** Simulated processing time of non-payment events: "ms" or "min-max" (random in between). */
  PROCESSING_DELAY_MS: Type.String({ default: '2000-5000', pattern: '^\\d+(-\\d+)?$' }),
  WEBHOOK_RETRY_DELAYS_MS: Type.String({ default: '1000,5000,30000,120000,600000', pattern: DELAYS }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 100 }),
  NOTIFY_RETRY_DELAYS_MS: Type.String({ default: '1000,5000,30000,120000,600000', pattern: DELAYS }),
  NOTIFY_MAX_ATTEMPTS: Type.Integer({ default: 8, minimum: 1, maximum: 100 }),
}

export type ProcessingConfig = Static<ReturnType<typeof Type.Object<typeof processingEnv>>> & {
  DB_SCHEMA: string
  ENVIRONMENT: string
}

/** "2000-5000" -> a random delay in [2000, 5000]; "50" -> 50. */
export function delayPicker(spec: string): () => number {
  const [min, max] = spec.split('-').map(Number) as [number, number | undefined]
  const high = max ?? min
  return () => min + Math.floor(Math.random() * (Math.max(high, min) - min + 1))
}

/** A catalog consumer with the retry tiers of the configuration (tests shorten them). */
export function withRetry<D extends ConsumerDef>(def: D, delays: string, maxAttempts: number): D {
  return defineConsumer({ ...def, retry: { delaysMs: delays.split(',').map(Number), maxAttempts } }) as D
}

export interface WebhookProcessingOptions {
  app: ServiceApp
  /** Connections, registry, event log, the publisher and outbox relay (started when the app is ready). */
  runtime: ServiceRuntime<boolean>
  config: ProcessingConfig
  prefetch?: number
}

/**
 * The processor's webhook work, wired onto the app: the consumer of accepted webhooks and the consumer of downstream
 * notifications. The runtime's outbox relay publishes the status reports, notifications and event-log records.
 */
export async function startWebhookProcessing(options: WebhookProcessingOptions) {
  const { app, config } = options
  const { sql, broker, logger, registry, publisher, eventLog } = options.runtime
  // The relay publishes to these; they must exist before the first row is published.
  await publisher.channel.addSetup((ch: Parameters<typeof declareExchanges>[0]) =>
    declareExchanges(ch, [exchanges.webhooks, exchanges.webhookStatus, exchanges.eventlog]),
  )
  const metrics = processorMetrics(registry)
  const webhooksDef = withRetry(processorWebhooksConsumer, config.WEBHOOK_RETRY_DELAYS_MS, config.WEBHOOK_MAX_ATTEMPTS)
  const notifyDef = withRetry(processorNotifyConsumer, config.NOTIFY_RETRY_DELAYS_MS, config.NOTIFY_MAX_ATTEMPTS)

  // The catalog's definition names the message (WebhookReceivedV1, validated) and its envelope (split).
  const webhooks = startConsumer(broker, {
    def: webhooksDef,
    logger,
    registry,
    ...(options.prefetch ? { prefetch: options.prefetch } : {}),
    handler: createWebhookHandler({
      sql,
      inbox: createInbox(sql, webhooksDef.queue),
      consumer: webhooksDef.queue,
      eventLog: consumerEventLog(eventLog, webhooksDef.queue),
      metrics,
      maxAttempts: webhooksDef.retry.maxAttempts,
      processingDelayMs: delayPicker(config.PROCESSING_DELAY_MS),
      notifyDownstream: config.DOWNSTREAM_URL !== '',
      publishStatus: (report) => publisher.publishMessage(webhookStatusChanged, report),
    }),
  })
  const notify = startConsumer(broker, {
    def: notifyDef,
    logger,
    registry,
    handler: createDownstreamHandler({
      sql,
      url: config.DOWNSTREAM_URL,
      timeoutMs: config.DOWNSTREAM_TIMEOUT_MS,
      maxAttempts: notifyDef.retry.maxAttempts,
      metrics,
    }),
  })
  options.runtime.readiness.webhookConsumer = () => webhooks.progress.check()
  options.runtime.readiness.notifyConsumer = () => notify.progress.check()
  app.addHook('onClose', async () => {
    await webhooks.stop()
    await notify.stop()
  })
  return {
    webhooksDef,
    notifyDef,
    ready: () => Promise.all([webhooks.ready(), notify.ready()]).then(() => undefined),
  }
}
