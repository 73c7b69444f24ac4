import {
  exchanges,
  processorNotifyConsumer,
  processorWebhooksConsumer,
  webhookStatusChanged,
} from '@platform/contracts'
import { consumerEventLog } from '@platform/eventlog'
import type { ServiceApp } from '@platform/http'
import { createInbox } from '@platform/inbox'
import { type ConsumerDef, declareExchanges, defineConsumer, startConsumer } from '@platform/messaging'
import type { ServiceRuntime } from '@platform/service'
import type { Config } from './config.js'
import { createDownstreamHandler } from './downstream.js'
import { processorMetrics } from './metrics.js'
import { createWebhookHandler } from './webhook-handler.js'

/** What the webhook work reads of the processor's configuration (config.ts, loaded once at start). */
export type ProcessingConfig = Pick<
  Config,
  | 'DOWNSTREAM_URL'
  | 'DOWNSTREAM_TIMEOUT_MS'
  | 'PROCESSING_DELAY_MS'
  | 'WEBHOOK_RETRY_DELAYS_MS'
  | 'WEBHOOK_MAX_ATTEMPTS'
  | 'NOTIFY_RETRY_DELAYS_MS'
  | 'NOTIFY_MAX_ATTEMPTS'
  | 'DB_SCHEMA'
  | 'ENVIRONMENT'
>

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
