import type { ActivityRecordedV1 } from '@platform/contracts'
import type { Sql } from '@platform/db'
import { ProblemError } from '@platform/http'
import type { Inbox } from '@platform/inbox'
import { type BulkMessage, type BulkOutcome, PermanentError } from '@platform/messaging'
import type { ServiceRuntime } from '@platform/service'
import type { AnalyticsMetrics } from '../metrics.js'
import { analyticsProblems } from '../problems.js'
import type { ActivityEvents } from './activity-consumer.js'
import { type StoreResult, storeEvents } from './event-store.js'
import type { Partitions } from './partitions.js'

/** The most events one `POST /v1/events` may carry (issue 15). */
export const MAX_BATCH = 10_000

export type Way = 'http' | 'consumer'

export interface IngestionDeps {
  sql: Sql
  schema: string
  partitions: Partitions
  metrics: AnalyticsMetrics
  logger: ServiceRuntime['logger']
  /** The consumer's inbox: message ids recorded with the events they carried. */
  inbox: Inbox
  maxEventAgeDays: number
  maxFutureSkewS: number
  /** Whether the rollup step adds to the daily sketches (rollup.ts hasSketches). */
  sketches: boolean
  now?: () => number
}

/** Why an event's time is refused, or undefined when it is inside the window. */
export function outsideWindow(
  performedAt: string,
  now: number,
  window: { maxEventAgeDays: number; maxFutureSkewS: number },
): string | undefined {
  const at = Date.parse(performedAt)
  if (Number.isNaN(at)) return 'is not a date-time'
  if (at < now - window.maxEventAgeDays * 86_400_000) {
    return `is more than ${window.maxEventAgeDays} days ago (ANALYTICS_MAX_EVENT_AGE_DAYS)`
  }
  if (at > now + window.maxFutureSkewS * 1000) {
    return `is more than ${window.maxFutureSkewS} s in the future (ANALYTICS_MAX_FUTURE_SKEW_S)`
  }
  return undefined
}

/** The first of `events` whose time is out of the window, with its index and why; undefined when all are inside. */
function firstOutsideWindow(
  events: readonly ActivityRecordedV1[],
  now: number,
  window: { maxEventAgeDays: number; maxFutureSkewS: number },
): { index: number; event: ActivityRecordedV1; reason: string } | undefined {
  for (const [index, event] of events.entries()) {
    const reason = outsideWindow(event.performedAt, now, window)
    if (reason !== undefined) return { index, event, reason }
  }
  return undefined
}

/** How many events `messages` carry between them (a single event's message: one). */
const eventCount = (messages: readonly { body: ActivityEvents }[]) => messages.reduce((n, m) => n + m.body.length, 0)

/** SQLSTATE classes a retry cannot fix: data exceptions (22), integrity (23), program limits (54). */
const isDataError = (error: unknown) => /^(22|23|54)/.test(String((error as { code?: unknown })?.code ?? ''))

/**
 * The two ways in (docs/analytics.md#ingestion), one write: both end in `storeEvents`, in one transaction with the
 * rollups, and both answer (a 200, an ack) only after the commit.
 *   acceptBatch   POST /v1/events: a batch is stored whole or not at all;
 *   consumeBatch  the activity consumers' batch of messages (single events and batches): message ids go to the inbox
 *                 in the same transaction.
 */
export function createIngestion(deps: IngestionDeps) {
  const { sql, metrics } = deps
  const store = { schema: deps.schema, maxEventAgeDays: deps.maxEventAgeDays, sketches: deps.sketches }
  const now = deps.now ?? Date.now

  function observe(way: Way, events: ActivityRecordedV1[], result: StoreResult, started: number) {
    const committed = now()
    metrics.events.inc({ way, result: 'stored' }, result.stored)
    if (result.duplicates > 0) metrics.events.inc({ way, result: 'duplicate' }, result.duplicates)
    if (result.late > 0) metrics.lateEvents.inc({ way }, result.late)
    metrics.batchSize.observe({ way }, events.length)
    metrics.batchDuration.observe({ way }, (performance.now() - started) / 1000)
    for (const event of events) {
      metrics.freshness.observe({ way }, Math.max(0, committed - Date.parse(event.performedAt)) / 1000)
    }
  }

  /** Stores the batch, or refuses it whole: 400 naming the first event out of the window, 503 when not stored. */
  async function acceptBatch(events: ActivityRecordedV1[]): Promise<StoreResult> {
    const at = now()
    const outside = firstOutsideWindow(events, at, deps)
    if (outside) {
      const { index, event, reason } = outside
      metrics.events.inc({ way: 'http', result: 'rejected' }, events.length)
      throw new ProblemError(analyticsProblems.eventOutOfRange, {
        detail: `Event ${index} (${event.eventId}): performedAt ${reason}. Nothing of the batch was stored.`,
        extensions: { errors: [{ in: 'body', pointer: `/events/${index}/performedAt`, message: reason }] },
      })
    }
    const started = performance.now()
    try {
      await deps.partitions.ensureMonths(events.map((e) => new Date(e.performedAt)))
      const result = await sql.begin((tx) => storeEvents(tx, store, events))
      observe('http', events, result, started)
      return result
    } catch (error) {
      metrics.events.inc({ way: 'http', result: 'failed' }, events.length)
      // The error handler logs a 5xx with its cause (problem-handler.ts); the client only learns to retry.
      throw new ProblemError(analyticsProblems.notStored, {
        detail: 'The events could not be stored; nothing of the batch was. Send the same batch again.',
        headers: { 'retry-after': '1' },
        cause: error,
      })
    }
  }

  /** One transaction: the messages' ids not seen before into the inbox, their events into the store. */
  async function writeMessages(messages: BulkMessage<ActivityEvents>[]): Promise<void> {
    const started = performance.now()
    await deps.partitions.ensureMonths(messages.flatMap((m) => m.body.map((e) => new Date(e.performedAt))))
    const eventsOf = (fresh: ReadonlySet<string>) =>
      messages.filter((m) => fresh.has(m.messageId)).flatMap((m) => m.body)
    const { fresh, result } = await deps.inbox.processMany(
      messages.map((m) => m.messageId),
      (tx, fresh) => storeEvents(tx, store, eventsOf(fresh)),
    )
    const redelivered = eventCount(messages.filter((m) => !fresh.has(m.messageId)))
    if (redelivered > 0) metrics.events.inc({ way: 'consumer', result: 'duplicate' }, redelivered)
    observe('consumer', eventsOf(fresh), result, started)
  }

  /**
   * Why a message is refused for its events' times, or undefined. A batch message is refused whole (as a POST):
   * the reason names its first event out of the window; a single event's reason is its time's.
   */
  function refusal(events: ActivityEvents, at: number): string | undefined {
    const outside = firstOutsideWindow(events, at, deps)
    if (!outside) return undefined
    const { index, event, reason } = outside
    return events.length === 1
      ? `performedAt ${reason}`
      : `event ${index} (${event.eventId}): performedAt ${reason}; nothing of the message was stored`
  }

  /**
   * The bulk consumers' handler (a message's body: its events, one or a batch's). Messages with an event out of the
   * window are dead-lettered (a retry cannot fix them); the rest are written in one transaction. A write that fails
   * on the data (a value PostgreSQL refuses) is split into one transaction per message, so the one bad message goes
   * to the DLQ and the others are stored; any other failure (database down, deadline) throws, and the bulk consumer
   * retries the whole batch, acking nothing before.
   */
  async function consumeBatch(messages: BulkMessage<ActivityEvents>[]): Promise<BulkOutcome<ActivityEvents>> {
    const at = now()
    const dead: NonNullable<BulkOutcome<ActivityEvents>['dead']> = []
    const good: BulkMessage<ActivityEvents>[] = []
    for (const message of messages) {
      const reason = refusal(message.body, at)
      if (reason === undefined) good.push(message)
      else dead.push({ message, error: new PermanentError(reason) })
    }
    if (good.length > 0) {
      try {
        await writeMessages(good)
      } catch (error) {
        if (!isDataError(error)) throw error
        deps.logger.warn({ err: error, size: good.length }, 'activity batch refused by the database; one by one')
        for (const message of good) {
          try {
            await writeMessages([message])
          } catch (single) {
            if (!isDataError(single)) throw single
            dead.push({ message, error: single })
          }
        }
      }
    }
    if (dead.length > 0)
      metrics.events.inc({ way: 'consumer', result: 'rejected' }, eventCount(dead.map((d) => d.message)))
    return { dead }
  }

  return { acceptBatch, consumeBatch }
}

export type Ingestion = ReturnType<typeof createIngestion>
