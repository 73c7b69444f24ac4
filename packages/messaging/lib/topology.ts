import type { Logger } from '@platform/logging'
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib'
import type { ConsumerDef, ExchangeDef } from './definitions.js'
import { errorText } from './headers.js'

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
 * The DLQ has a delivery limit no one reaches (DLQ_DELIVERY_LIMIT): reading a dead message in the management UI
 * must never make it disappear.
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

/**
 * The DLQ's delivery limit: a billion deliveries, i.e. none that an operator reaches. The management UI's "Get
 * messages" (any "requeue true" ack mode) delivers the message and puts it back, and quorum queues count that as a
 * delivery. RabbitMQ 4.0 gives every quorum queue without a limit a default of 20, so the 21st look would drop the
 * dead message (the DLQ has no dead-letter target). -1 ("unlimited" on 4.x) is no option: RabbitMQ 3.x accepts it
 * and drops the message after its first requeue (checked on 3.10). docs/operations.md#dead-letter-queues.
 * https://www.rabbitmq.com/docs/quorum-queues#poison-message-handling
 */
export const DLQ_DELIVERY_LIMIT = 1_000_000_000

export const dlqArguments = { ...quorum, 'x-delivery-limit': DLQ_DELIVERY_LIMIT }

// at-least-once dead-lettering requires reject-publish overflow (RabbitMQ docs, quorum queues).
const safeDeadLettering = { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }

export async function declareExchanges(channel: Channel | ConfirmChannel, exchanges: ExchangeDef[]): Promise<void> {
  for (const exchange of exchanges) await channel.assertExchange(exchange.name, exchange.type, { durable: true })
}

export interface TopologyOptions {
  /**
   * The connection the channel belongs to: the DLQ is declared on a channel of its own from it, so that a DLQ
   * declared by an older version (other arguments: 406 PRECONDITION_FAILED, which closes the channel) only costs
   * that channel, not the consumer's. Without it the DLQ is declared on the consumer's channel.
   */
  connection?: ChannelModel
  logger?: Logger
}

/** Declared in the channel's setup function, so it is declared again after every reconnect. */
export async function declareConsumerTopology(
  channel: Channel | ConfirmChannel,
  def: ConsumerDef,
  options: TopologyOptions = {},
): Promise<ConsumerTopology> {
  const topology = consumerTopology(def)
  await declareExchanges(channel, topology.exchanges)
  await declareDeadLetterQueue(channel, topology.dlq, options)
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

/**
 * Declares the DLQ with dlqArguments. A DLQ that exists with other arguments (declared before the delivery limit was
 * set) cannot be changed by a declaration, only by a policy, and RabbitMQ answers 406: the queue is there and keeps
 * working, so this logs what to do and goes on (docs/operations.md#dead-letter-queues has the policy).
 */
async function declareDeadLetterQueue(
  channel: Channel | ConfirmChannel,
  dlq: string,
  { connection, logger }: TopologyOptions,
): Promise<void> {
  if (!connection) {
    await channel.assertQueue(dlq, { durable: true, arguments: dlqArguments })
    return
  }
  const side = await connection.createChannel()
  // The broker closes a channel whose declaration failed; amqplib emits that as 'error', which must not throw.
  side.on('error', () => {})
  try {
    await side.assertQueue(dlq, { durable: true, arguments: dlqArguments })
  } catch (error) {
    if ((error as { code?: unknown }).code !== 406) throw error
    logger?.warn(
      {
        queue: dlq,
        err: errorText(error),
        fix: `rabbitmqctl set_policy --vhost <vhost> --apply-to queues --priority 10 platform-dlq '\\.dlq$' '{"delivery-limit":${DLQ_DELIVERY_LIMIT}}'`,
      },
      'dead-letter queue exists with the arguments of an older version (no x-delivery-limit): on RabbitMQ 4 a message in it disappears after 20 looks ("Get messages"); apply the policy of docs/operations.md#dead-letter-queues',
    )
    return
  } finally {
    await side.close().catch(() => {})
  }
}

/** The delay for the n-th failure (1-based); a handler's Retry-After picks the first tier that is long enough. */
export function retryDelayFor(delaysMs: number[], failures: number, retryAfterMs?: number): number {
  const tiers = [...new Set(delaysMs)].sort((a, b) => a - b)
  if (retryAfterMs !== undefined && retryAfterMs > 0) {
    return tiers.find((d) => d >= retryAfterMs) ?? (tiers.at(-1) as number)
  }
  return delaysMs[Math.min(failures, delaysMs.length) - 1] as number
}
