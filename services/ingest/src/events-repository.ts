import type { WebhookStatus, WebhookStatusV1 } from '@platform/contracts'
import type { Queryable, Sql } from '@platform/db'

/** The statuses events_source_status_rare indexes (migrations/0002): listing them reads that index. */
const RARE_STATUSES = new Set<WebhookStatus>(['processing', 'failed', 'dead'])

export interface EventRow {
  id: string
  source: string
  event_id: string
  event_type: string
  status: WebhookStatus
  attempts: number
  last_error: string | null
  received_at: Date
  updated_at: Date
}

/** Reads of the events table and the status updates reported by the processor. */
export function createEventsRepository(sql: Sql) {
  const columns = sql`e.id, e.source, e.event_id, e.event_type, e.status, e.attempts, e.last_error, e.received_at, e.updated_at`

  return {
    async findByEventId(source: string, eventId: string): Promise<EventRow | undefined> {
      const [row] = await sql<EventRow[]>`
        select ${columns}
        from dedupe_keys k
        join events e on e.received_at = k.received_at and e.id = k.event_id
        where k.source = ${source} and k.dedupe_key = ${eventId}`
      return row
    },

    /** Newest first; `after` is the (received_at, id) of the last row of the previous page. */
    async list(
      source: string,
      options: { status?: WebhookStatus; after?: { receivedAt: Date; id: string }; limit: number },
    ): Promise<EventRow[]> {
      return sql<EventRow[]>`
        select ${columns} from events e
        where e.source = ${source}
          ${options.status ? sql`and e.status = ${options.status}` : sql``}
          ${
            // Spelled out so the planner, which cannot look into the parameter of a prepared statement, sees that
            // the query stays inside the partial index's predicate.
            options.status && RARE_STATUSES.has(options.status)
              ? sql`and e.status in ('processing', 'failed', 'dead')`
              : sql``
          }
          ${options.after ? sql`and (e.received_at, e.id) < (${options.after.receivedAt}, ${options.after.id}::uuid)` : sql``}
        order by e.received_at desc, e.id desc
        limit ${options.limit}`
    },

    /** Applies a status reported by the processor unless a newer one is already stored. True when applied. */
    async applyStatus(tx: Queryable, status: WebhookStatusV1): Promise<boolean> {
      const result = await tx`
        update events set
          status = ${status.status},
          attempts = ${status.attempts},
          last_error = ${status.lastError},
          status_version = ${status.version},
          updated_at = ${new Date(status.occurredAt)}
        where received_at = ${new Date(status.receivedAt)} and id = ${status.id} and status_version < ${status.version}`
      return result.count > 0
    },
  }
}

export type EventsRepository = ReturnType<typeof createEventsRepository>
