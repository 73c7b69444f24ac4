import { setTimeout as delay } from 'node:timers/promises'
import type { WebhookReceivedV1 } from '@platform/contracts'
import type { Sql } from '@platform/db'
import type { ConsumerEventLog, MessageEventLog } from '@platform/eventlog'
import type { Inbox } from '@platform/inbox'
import { type IncomingMessage, PermanentError } from '@platform/messaging'
import type { ProcessorMetrics } from './metrics.js'
import { applyPaymentEvent, type PaymentEvent } from './payments.js'
import { enqueueCompleted, replaysOf, type StatusPublisher, statusReport } from './status.js'

export interface WebhookHandlerDeps {
  sql: Sql
  inbox: Inbox
  /**
   * Each message's events get ids derived from it (consumerEventLog(runtime.eventLog, consumer)): a redelivered
   * message records the same events again under the same ids, which the event log writes once.
   */
  eventLog: ConsumerEventLog
  metrics: ProcessorMetrics
  maxAttempts: number
  /** Returns the simulated processing time of a non-payment event, in ms. */
  processingDelayMs: () => number
  notifyDownstream: boolean
  publishStatus: StatusPublisher
}

/**
 * Test hooks of the simulated (non-payment) processing, read from the event's payload (docs/webhooks.md):
 * `simulate.failAttempts: n` fails attempts 1..n with a retryable error; `simulate.failUntilReplayed: true` fails
 * permanently until an operator moved the message back from the DLQ (after the failAttempts, when both are given:
 * retried, then dead-lettered).
 */
interface Simulation {
  failAttempts?: number
  failUntilReplayed?: boolean
}

function simulationOf(payload: unknown): Simulation {
  const simulate = (payload as { simulate?: unknown } | null)?.simulate
  return simulate && typeof simulate === 'object' ? (simulate as Simulation) : {}
}

const errorText = (error: unknown) =>
  (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).replace(/\s+/g, ' ').slice(0, 500)

/**
 * Handles one accepted webhook event, exactly once in effect:
 *   1. already in the inbox (a redelivery after a crash, a republished outbox row): nothing to do;
 *   2. report `processing`;
 *   3. in ONE transaction: the inbox row, the effects, their event-log records and the `completed` report;
 *   4. on failure: report `failed` (it will be retried) or `dead` (PermanentError, or the last attempt: the
 *      consumer dead-letters exactly then; a `webhook.dead_lettered` event-log record first), and rethrow so the
 *      consumer retries or dead-letters the message. A report that cannot be published fails the attempt too.
 * Every event-log record of a message has an id derived from it. The dead_lettered record has its own transaction,
 * not the inbox's: an inbox row would make the message's replay from the DLQ a "duplicate". A crash between that
 * commit and the ack repeats the record on the redelivery under the same id, which writes nothing; its occurrence is
 * the replay count, so the dead-lettering after an operator's replay is an event of its own.
 */
export function createWebhookHandler(deps: WebhookHandlerDeps) {
  const { sql, inbox, metrics } = deps

  /** Applies the event's effects (a payment fact, or the simulated work) with its inbox row; says what it did. */
  async function applyEvent(message: IncomingMessage<WebhookReceivedV1>, eventLog: MessageEventLog): Promise<string> {
    const event = message.body
    if (event.format === 'stripe') {
      const outcome = await inbox.process(message.messageId, async (tx) => {
        const effect = await applyPaymentEvent(tx, event.payload as PaymentEvent, {
          eventLog,
          notify: deps.notifyDownstream,
        })
        await tx`insert into processed_events (id, source, event_id, event_type, result)
          values (${event.id}, ${event.source}, ${event.eventId}, ${event.eventType}, ${tx.json({ effect })})
          on conflict (id) do nothing`
        await enqueueCompleted(tx, message)
        return effect
      })
      return outcome.duplicate ? 'duplicate' : outcome.result
    }

    // The simulated work takes its time first, so `processing` is visible for a while, then may fail.
    const delayMs = deps.processingDelayMs()
    await delay(delayMs)
    const simulate = simulationOf(event.payload)
    // Retryable failures first, so that both together take a message through a retry tier, then the DLQ.
    if (simulate.failAttempts !== undefined && message.attempt <= simulate.failAttempts) {
      throw new Error(`simulated failure of attempt ${message.attempt}`)
    }
    if (simulate.failUntilReplayed && replaysOf(message) === 0) {
      throw new PermanentError('simulated permanent failure (replay the message to let it pass)')
    }
    const outcome = await inbox.process(message.messageId, async (tx) => {
      await tx`insert into processed_events (id, source, event_id, event_type, result)
        values (${event.id}, ${event.source}, ${event.eventId}, ${event.eventType},
          ${tx.json({ simulated: true, delayMs })})
        on conflict (id) do nothing`
      await enqueueCompleted(tx, message)
    })
    return outcome.duplicate ? 'duplicate' : 'simulated'
  }

  return async function handle(message: IncomingMessage<WebhookReceivedV1>): Promise<void> {
    const started = performance.now()
    const labels = { source: message.body.source }
    // Checked before the `processing` report, so a redelivered message that was done reports nothing.
    if (await inbox.seen(message.messageId)) {
      metrics.processed.inc({ ...labels, outcome: 'duplicate' })
      return
    }
    await deps.publishStatus(statusReport(message, 'processing'))
    const eventLog = deps.eventLog.of(message)
    try {
      const outcome = await applyEvent(message, eventLog)
      metrics.processed.inc({ ...labels, outcome })
      metrics.duration.observe({ ...labels, outcome: 'completed' }, (performance.now() - started) / 1000)
    } catch (error) {
      const dead = error instanceof PermanentError || message.attempt >= deps.maxAttempts
      const lastError = errorText(error)
      if (dead) {
        await sql.begin((tx) =>
          eventLog.record(tx, {
            eventType: 'webhook.dead_lettered',
            occurrence: replaysOf(message),
            context: {
              id: message.body.id,
              source: message.body.source,
              eventId: message.body.eventId,
              attempts: message.attempt,
              replays: replaysOf(message),
              error: lastError,
            },
          }),
        )
      }
      await deps.publishStatus(statusReport(message, dead ? 'dead' : 'failed', lastError))
      metrics.processed.inc({ ...labels, outcome: dead ? 'dead' : 'failed' })
      metrics.duration.observe({ ...labels, outcome: dead ? 'dead' : 'failed' }, (performance.now() - started) / 1000)
      throw error
    }
  }
}
