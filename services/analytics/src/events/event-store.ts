import type { ActivityRecordedV1 } from '@platform/contracts'
import { jsonText, type Tx } from '@platform/db'
import { advanceRollups, type RollupOptions, type UserDay } from '../rollup/rollup.js'

export interface StoreResult {
  /** Events written; the others of the batch were stored before (same eventId and performedAt) or repeated in it. */
  stored: number
  duplicates: number
  /** Stored events of an earlier UTC day than today's. */
  late: number
  /** User days the batch made active for the first time. */
  newUserDays: number
}

/**
 * Stores a batch of events with their rollups, inside the caller's transaction (docs/analytics.md#ingestion):
 *   1. ONE statement: the events (INSERT ... ON CONFLICT DO NOTHING on the primary key, so an event stored before is
 *      skipped, also when it comes again in this batch); it returns the (day, user) pairs of the events written;
 *   2. the rollup step for those pairs (rollup.ts), under the rollup lock: the new user days, the bits of the days
 *      around them, the daily counts.
 * The batch travels as one JSON parameter (json_to_recordset), the events' own shape: a fixed statement text,
 * prepared once, for 1 or 10,000 events. Events are inserted in key order, so two batches sharing some events lock
 * them in the same order and cannot deadlock; an event another, uncommitted batch holds makes the insert wait for
 * that batch's outcome (committed: ours is a duplicate; rolled back: ours is new).
 */
export async function storeEvents(tx: Tx, options: RollupOptions, events: ActivityRecordedV1[]): Promise<StoreResult> {
  if (events.length === 0) return { stored: 0, duplicates: 0, late: 0, newUserDays: 0 }
  const [row] = await tx<{ stored: number; late: number; user_days: UserDay[] | null }[]>`
    with input as (
      select * from json_to_recordset(${jsonText(tx, JSON.stringify(events))}::json) as t(
        "eventId" uuid, "userId" text, kind text, "performedAt" timestamptz, "courseId" text, properties jsonb)
    ),
    new_events as (
      insert into events (event_id, user_id, course_id, kind, performed_at, properties)
      select "eventId", "userId", "courseId", kind, "performedAt", properties from input
      order by "performedAt", "eventId"
      on conflict do nothing
      returning user_id, performed_at
    )
    select
      (select count(*) from new_events)::int as stored,
      (select count(*) from new_events where performed_at < date_trunc('day', now(), 'UTC'))::int as late,
      (select json_agg(json_build_object('day', day, 'user_id', user_id)) from (
        select distinct (performed_at at time zone 'UTC')::date as day, user_id from new_events) as d) as user_days`
  const newUserDays = await advanceRollups(tx, options, row?.user_days ?? [])
  const stored = row?.stored ?? 0
  return { stored, duplicates: events.length - stored, late: row?.late ?? 0, newUserDays }
}
