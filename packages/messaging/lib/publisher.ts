import { randomUUID } from 'node:crypto'
import { currentCorrelationId } from '@platform/logging'
import { endSpan, insideSpan } from '@platform/tracing'
import type { ChannelWrapper } from 'amqp-connection-manager'
import type { Static, TSchema } from 'typebox'
import type { Broker } from './connection.js'
import { type ExchangeDef, type MessageDef, routingKeyOf } from './definitions.js'
import { MessagingError } from './errors.js'
import { declareExchanges } from './topology.js'
import { startPublishSpan, TRACE_HEADERS, withTraceHeaders } from './tracing.js'

/** A message ready for the wire. The outbox relay builds these from rows; `publishMessage` from a catalog entry. */
export interface OutgoingMessage {
  exchange: string
  routingKey: string
  /** JSON-serialisable body, or bytes already encoded. */
  body: unknown
  messageId: string
  type?: string
  correlationId?: string
  headers?: Record<string, unknown>
  /** Unix seconds (AMQP timestamp property). */
  timestamp?: number
}

export interface Publisher {
  /** Resolves when the broker confirmed the message (publisher confirms), rejects on nack or timeout. */
  publish(message: OutgoingMessage): Promise<void>
  /** Publishes all, then waits for every confirm: one round trip's latency for the whole batch. */
  publishBatch(messages: OutgoingMessage[]): Promise<void>
  /** Builds the message from a catalog entry, validates nothing (callers typed the body), and publishes. */
  publishMessage<S extends TSchema>(
    def: MessageDef<S>,
    body: Static<S>,
    options?: Partial<OutgoingMessage>,
  ): Promise<void>
  close(): Promise<void>
  channel: ChannelWrapper
}

export interface PublisherOptions {
  exchanges?: ExchangeDef[]
  /** A publish not confirmed within this time rejects; the caller (the outbox relay) tries again later. */
  publishTimeoutMs?: number
}

export function createPublisher(broker: Broker, options: PublisherOptions = {}): Publisher {
  const channel = broker.createChannel({
    name: 'publisher',
    confirm: true,
    setup: async (ch: import('amqplib').ConfirmChannel) => {
      await declareExchanges(ch, options.exchanges ?? [])
    },
  })

  const timeoutMs = options.publishTimeoutMs ?? 10_000

  /**
   * amqp-connection-manager rejects a publish whose channel closed before the confirm arrived. The broker may or
   * may not have the message then, so we publish it again (consumers deduplicate by messageId) until it is
   * confirmed or the deadline passes. A nack is the broker's answer, not a lost channel: it is not retried here.
   */
  /**
   * Tracing on, a publish made inside a span (a handler's direct publish: the processor's status reports) gets a
   * PRODUCER span of its own, whose context the message carries. A message that carries its context already (the
   * outbox relay's, built from the row's) is published as it is.
   */
  const publish = async (message: OutgoingMessage): Promise<void> => {
    if (
      !insideSpan() ||
      (message.headers && (TRACE_HEADERS.parent in message.headers || TRACE_HEADERS.list in message.headers))
    )
      return send(message)
    const correlationId = message.correlationId ?? currentCorrelationId()
    const span = startPublishSpan(message.exchange, {
      routingKey: message.routingKey,
      messageId: message.messageId,
      ...(message.type ? { type: message.type } : {}),
      ...(correlationId ? { correlationId } : {}),
    })
    try {
      await send({ ...message, headers: withTraceHeaders(message.headers ?? {}, span) })
      span.end()
    } catch (error) {
      endSpan(span, error)
      throw error
    }
  }

  const send = async (message: OutgoingMessage): Promise<void> => {
    const content = Buffer.isBuffer(message.body) ? message.body : Buffer.from(JSON.stringify(message.body))
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try {
        await channel.publish(message.exchange, message.routingKey, content, {
          persistent: true,
          contentType: 'application/json',
          messageId: message.messageId,
          type: message.type,
          correlationId: message.correlationId ?? currentCorrelationId(),
          timestamp: message.timestamp ?? Math.floor(Date.now() / 1000),
          headers: message.headers ?? {},
          timeout: Math.max(deadline - Date.now(), 1),
        })
        return
      } catch (cause) {
        const text = String((cause as Error)?.message)
        const nacked = /nack/i.test(text)
        if (nacked || Date.now() >= deadline) {
          throw new MessagingError(
            nacked ? 'MSG_PUBLISH_NACKED' : 'MSG_PUBLISH_TIMEOUT',
            `publish to ${message.exchange}/${message.routingKey} was not confirmed: ${text}`,
            { cause },
          )
        }
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  return {
    channel,
    publish,
    async publishBatch(messages) {
      const results = await Promise.allSettled(messages.map(publish))
      const failed = results.find((r) => r.status === 'rejected')
      if (failed) throw (failed as PromiseRejectedResult).reason
    },
    publishMessage(def, body, extra = {}) {
      return publish({
        exchange: def.exchange.name,
        routingKey: routingKeyOf(def, body),
        body,
        messageId: randomUUID(),
        type: def.type,
        ...extra,
      })
    },
    async close() {
      await channel.close()
    },
  }
}
