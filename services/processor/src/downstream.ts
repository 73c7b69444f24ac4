import type { OrderPaidNotifyV1 } from '@platform/contracts'
import type { Sql } from '@platform/db'
import { type IncomingMessage, PermanentError, RetryableError } from '@platform/messaging'
import type { ProcessorMetrics } from './metrics.js'

export interface DownstreamDeps {
  sql: Sql
  /** Empty: no downstream configured, nothing is called. */
  url: string
  timeoutMs: number
  metrics: ProcessorMetrics
}

/**
 * Retry-After (RFC 9110 §10.2.3) is either delay-seconds or an HTTP-date; returns milliseconds, or undefined when
 * absent or unreadable.
 */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(at - now, 0)
}

/**
 * The downstream notification after an order was paid: its own message (enqueued in the effect's transaction), so
 * retrying the call never re-applies the effect. Outcomes, mapped to the consumer's retry tiers and DLQ:
 *   2xx                              -> done (recorded, so a redelivery does not call again);
 *   429, 5xx, timeout, network error -> RetryableError (Retry-After honoured: the first tier at least that long);
 *   any other 4xx                    -> PermanentError: straight to the DLQ, retrying cannot help.
 * After maxAttempts the consumer dead-letters it. The Idempotency-Key header (the message id) lets the downstream
 * drop the repeat of a call whose answer we lost.
 */
export function createDownstreamHandler(deps: DownstreamDeps) {
  const { sql, metrics } = deps

  async function call(message: IncomingMessage<OrderPaidNotifyV1>): Promise<void> {
    const [done] = await sql`select 1 from downstream_notifications where message_id = ${message.messageId}`
    if (done || !deps.url) return
    let response: Response
    try {
      response = await fetch(deps.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': message.messageId },
        body: JSON.stringify({ type: 'order.paid', ...message.body }),
        signal: AbortSignal.timeout(deps.timeoutMs),
      })
      await response.body?.cancel()
    } catch (error) {
      metrics.downstream.inc({ outcome: 'error' })
      throw new RetryableError(`downstream unreachable: ${(error as Error).message}`, { cause: error })
    }
    if (response.ok) {
      metrics.downstream.inc({ outcome: 'ok' })
      await sql`insert into downstream_notifications (message_id, order_id, status_code)
        values (${message.messageId}, ${message.body.orderId}, ${response.status}) on conflict do nothing`
      return
    }
    if (response.status === 429 || response.status >= 500) {
      metrics.downstream.inc({ outcome: 'retry' })
      const after = retryAfterMs(response.headers.get('retry-after'))
      throw new RetryableError(
        `downstream answered ${response.status}`,
        after === undefined ? {} : { retryAfterMs: after },
      )
    }
    metrics.downstream.inc({ outcome: 'rejected' })
    throw new PermanentError(`downstream rejected the notification with ${response.status}`)
  }

  // Retries and dead letters are counted by the consumer, once settled: consumer_messages_total{outcome}.
  return call
}
