import { defineExchange } from '@platform/messaging'

/**
 * Every exchange of the platform. Topic exchanges: a routing key names what happened ("webhook.payment.charge.succeeded"),
 * and each consumer binds the patterns it wants. See docs/architecture.md for who publishes and who consumes.
 */
export const exchanges = {
  /** ingest -> processor: accepted webhook events. */
  webhooks: defineExchange('webhooks'),
  /** processor -> ingest: status changes of webhook events (processing, completed, failed, dead). */
  webhookStatus: defineExchange('webhook-status'),
  /** every service -> log-shipper: event-log records bound for ClickHouse. */
  eventlog: defineExchange('eventlog'),
  /** feed: commands and domain events (posts, likes, follows) and fan-out jobs. */
  feed: defineExchange('feed'),
  /** feed and others -> analytics: user activity. */
  activity: defineExchange('activity'),
} as const
