import type { Channel, ConfirmChannel } from 'amqplib'
import type { ConsumerDef, ExchangeDef } from './definitions.js'

/**
 * The queues one consumer owns, all derived from its work queue name:
 *
 *   exchange --binding--> <queue>            (quorum work queue)
 *   <queue> --handler fails--> <queue>.retry.<delay>  (TTL = delay) --expires--> <queue>   (via the default exchange)
 *   <queue> --attempts used up / permanent error--> <queue>.dlq
 *   <queue> --delivery limit exceeded (consumer keeps crashing)--> <queue>.dlq  (broker dead-lettering)
 *
 * Retry queues dead-letter through the default exchange straight to the work queue, not back through the topic
 * exchange, so other consumers bound to the same routing key never see a retry that is not theirs.
 * All queues are quorum queues with at-least-once dead-lettering (RabbitMQ 3.10+,
 * https://www.rabbitmq.com/docs/quorum-queues#dead-lettering), so a broker crash between "expired" and
 * "delivered to the work queue" loses nothing.
 */
export interface ConsumerTopology {
  queue: string
  dlq: string
  retryQueues: { name: string; delayMs: number }[]
  exchanges: ExchangeDef[]
}

export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`
}

export function dlqName(queue: string): string {
  return `${queue}.dlq`
}

export function consumerTopology(def: ConsumerDef): ConsumerTopology {
  const delays = [...new Set(def.retry.delaysMs)].sort((a, b) => a - b)
  const exchanges = new Map(def.bindings.map((b) => [b.exchange.name, b.exchange]))
  return {
    queue: def.queue,
    dlq: dlqName(def.queue),
    retryQueues: delays.map((delayMs) => ({ name: retryQueueName(def.queue, delayMs), delayMs })),
    exchanges: [...exchanges.values()],
  }
}

const quorum = { 'x-queue-type': 'quorum' }
// at-least-once dead-lettering requires reject-publish overflow (RabbitMQ docs, quorum queues).
const safeDeadLettering = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }

export async function declareExchanges(channel: Channel | ConfirmChannel, exchanges: ExchangeDef[]): Promise<void> {
  for (const exchange of exchanges) await channel.assertExchange(exchange.name, exchange.type, { durable: true })
}

/** Declared in the channel's setup function, so it is declared again after every reconnect. */
export async function declareConsumerTopology(
  channel: Channel | ConfirmChannel,
  def: ConsumerDef,
): Promise<ConsumerTopology> {
  const topology = consumerTopology(def)
  await declareExchanges(channel, topology.exchanges)
  await channel.assertQueue(topology.dlq, { durable: true, arguments: { ...quorum } })
  await channel.assertQueue(topology.queue, {
    durable: true,
    arguments: {
      ...quorum,
      ...safeDeadLettering,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': topology.dlq,
      'x-delivery-limit': def.deliveryLimit ?? 20,
    },
  })
  for (const retry of topology.retryQueues) {
    await channel.assertQueue(retry.name, {
      durable: true,
      arguments: {
        ...quorum,
        ...safeDeadLettering,
        'x-message-ttl': retry.delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': topology.queue,
      },
    })
  }
  for (const binding of def.bindings) {
    await channel.bindQueue(topology.queue, binding.exchange.name, binding.routingKey)
  }
  return topology
}

/** The delay for the n-th failure (1-based); a handler's Retry-After picks the first tier that is long enough. */
export function retryDelayFor(delaysMs: number[], failures: number, retryAfterMs?: number): number {
  const tiers = [...new Set(delaysMs)].sort((a, b) => a - b)
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    return tiers.find((d) => d >= retryAfterMs) ?? (tiers.at(-1) as number)
  }
  return delaysMs[Math.min(failures, delaysMs.length) - 1] as number
}
