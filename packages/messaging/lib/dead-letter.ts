import type { ConfirmChannel, Options } from 'amqplib'
import { errorText, FAILURE_HEADERS, H, numberHeader } from './headers.js'

/**
 * What both consumers (startConsumer, consumer.ts; startBulkConsumer, bulk-consumer.ts) do alike with a message that
 * failed or comes back: publish a copy with confirms, write the dead-letter headers an operator reads in the
 * management UI before moving a message back, and tell a message moved back from the DLQ (a replay), which then
 * starts afresh. One module, so a DLQ copy looks the same whichever consumer wrote it (docs/architecture.md).
 */

/** Publishes to a queue (the default exchange) and resolves once the broker confirmed it. */
export function publishConfirmed(
  ch: ConfirmChannel,
  queue: string,
  content: Buffer,
  options: Options.Publish,
): Promise<void> {
  return new Promise((resolve, reject) => {
    ch.publish('', queue, content, options, (err) => (err ? reject(err) : resolve()))
  })
}

/**
 * True when the message was in a DLQ: our own header, or x-death entries from the broker's own dead-lettering
 * (delivery limit, reject), which is how a message the quorum queue gave up on arrives after a move back.
 */
export function wasDeadLettered(headers: Record<string, unknown>): boolean {
  if (H.deadLetteredAt in headers) return true
  const deaths = headers['x-death']
  return Array.isArray(deaths) && deaths.some((d) => d && (d.reason === 'delivery_limit' || d.reason === 'rejected'))
}

/**
 * The headers a delivery is handled with. A message an operator moved back from the DLQ starts afresh: its failure
 * headers are dropped (full retries, attempt 1) and x-replays counts the replays.
 */
export function deliveryHeaders(received: Record<string, unknown>): {
  headers: Record<string, unknown>
  replayed: boolean
} {
  const headers: Record<string, unknown> = { ...received }
  const replayed = wasDeadLettered(received)
  if (replayed) {
    for (const name of FAILURE_HEADERS) delete headers[name]
    headers[H.replays] = numberHeader(received[H.replays]) + 1
  }
  return { headers, replayed }
}

/** Where the message was first published: the delivery's own, or what a retry or DLQ trip recorded. */
export function originOf(headers: Record<string, unknown>, fields: { exchange: string; routingKey: string }) {
  return {
    exchange: String(headers[H.originalExchange] ?? fields.exchange),
    routingKey: String(headers[H.originalRoutingKey] ?? fields.routingKey),
  }
}

export interface FailureOf {
  /** The headers the message was handled with (deliveryHeaders). */
  headers: Record<string, unknown>
  /** Where it was first published (originOf). */
  origin: { exchange: string; routingKey: string }
  error: unknown
  /** This attempt, 1-based. */
  attempt: number
}

/** The headers of a retry copy: which attempt failed, when the failures began, the last error. */
export function retryHeaders(failure: FailureOf, now = new Date().toISOString()): Record<string, unknown> {
  return {
    ...failure.headers,
    [H.originalExchange]: failure.origin.exchange,
    [H.originalRoutingKey]: failure.origin.routingKey,
    [H.attempt]: failure.attempt,
    [H.firstFailureAt]: failure.headers[H.firstFailureAt] ?? now,
    [H.lastFailureAt]: now,
    [H.lastError]: errorText(failure.error),
  }
}

/** The headers of a DLQ copy: why, after how many attempts, who gave up and when (what an operator reads). */
export function deadLetterHeaders(
  failure: FailureOf,
  deadLetteredBy: string,
  now = new Date().toISOString(),
): Record<string, unknown> {
  const { [H.attempt]: _, [H.lastError]: __, ...rest } = failure.headers
  return {
    ...rest,
    [H.originalExchange]: failure.origin.exchange,
    [H.originalRoutingKey]: failure.origin.routingKey,
    [H.error]: errorText(failure.error),
    [H.attempts]: failure.attempt,
    [H.firstFailureAt]: failure.headers[H.firstFailureAt] ?? now,
    [H.lastFailureAt]: now,
    [H.deadLetteredBy]: deadLetteredBy,
    [H.deadLetteredAt]: now,
  }
}
