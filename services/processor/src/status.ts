import { type WebhookReceivedV1, type WebhookStatusV1, webhookStatusChanged } from '@platform/contracts'
import type { Queryable } from '@platform/db'
import { HEADERS, type IncomingMessage } from '@platform/messaging'
import { enqueueMessage } from '@platform/outbox'

/**
 * Status reports back to ingest. `completed` goes through the outbox in the transaction of the effects (published if
 * and only if they committed); `processing`, `failed` and `dead` report what is happening rather than a change, so
 * they are published directly (confirmed), without waiting for the outbox relay. Each carries a version that grows
 * with every step of the event's life:
 *
 *   version = ((replays * 1000) + attempt) * 4 + rank,   rank: processing 1, failed 2, completed / dead 3
 *
 * A replay from the DLQ (x-replays) outranks every attempt before it; a later attempt outranks an earlier one; within
 * one attempt, an outcome outranks `processing`. A redelivery after a crash repeats the same attempt number, so its
 * `processing` (rank 1) never overwrites the `completed` (rank 3) the first delivery already committed.
 */
export type ReportedStatus = WebhookStatusV1['status']

const RANK: Record<ReportedStatus, number> = { processing: 1, failed: 2, completed: 3, dead: 3 }

export function replaysOf(message: Pick<IncomingMessage, 'headers'>): number {
  const n = Number(message.headers[HEADERS.replays] ?? 0)
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0
}

export function statusVersion(replays: number, attempt: number, status: ReportedStatus): number {
  return (replays * 1000 + Math.min(attempt, 999)) * 4 + RANK[status]
}

export function statusReport(
  message: IncomingMessage<WebhookReceivedV1>,
  status: ReportedStatus,
  lastError: string | null = null,
): WebhookStatusV1 {
  const event = message.body
  return {
    id: event.id,
    source: event.source,
    eventId: event.eventId,
    receivedAt: event.receivedAt,
    status,
    attempts: message.attempt,
    lastError,
    version: statusVersion(replaysOf(message), message.attempt, status),
    occurredAt: new Date().toISOString(),
  }
}

/** `completed`, inside the effects' transaction. */
export async function enqueueCompleted(tx: Queryable, message: IncomingMessage<WebhookReceivedV1>): Promise<void> {
  await enqueueMessage(tx, webhookStatusChanged, statusReport(message, 'completed'))
}

/** Publishes a report directly; resolves once the broker confirmed it. */
export type StatusPublisher = (report: WebhookStatusV1) => Promise<void>
