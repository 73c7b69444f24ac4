import type { Fragment, Queryable, Tx } from '@platform/db'
import { jsonText } from '@platform/db'

/**
 * The rollups (docs/analytics.md#rollups), changed only in the transaction that stores the events that change them,
 * so an answer is as fresh as the last commit:
 *   user_day        a row per user per active UTC day; prior_days: bit k-1 set = also active k days before (k 1..7);
 *   daily_activity  a row per day: active, returning (prior_days <> 0), back_k (bit k-1 set);
 *   user_activity   a row per user: the user's active days since the horizon (ANALYTICS_MAX_EVENT_AGE_DAYS + 8 days
 *                   back), the only place the rollup step reads. Everything it needs about a user is that one row:
 *                   whether a day is new, the bits of a new day, and the days after it whose bits it changes;
 *   daily_user_sketches  where the hll extension is (migration 0003, `sketches`): a HyperLogLog sketch per day of
 *                   its users, for the weekly and monthly estimates. Adding a user twice changes nothing, so every
 *                   pair of the batch is added, new or not.
 *
 * A new user day (d, u) sets bits of u's rows from d to d+7: its own (the days before it) and those of the 7 days
 * after (d is one of their days before: the late event's case). For each user of the batch, from the days they had
 * (user_activity) and the days that are new, the step computes every affected row's bits before and after, inserts
 * the new rows, updates the old ones whose bits changed, and adds to daily_activity what changed: a new row counts as
 * active, a row whose bits went from none to some as returning, each bit newly set in back_k. Bits are only ever set
 * (events are never deleted), so "newly set" is `new & ~old`.
 *
 * Why user_activity, and not an index on user_day (user_id, day): users come in no order, so each new user day is a
 * random lookup into the per-user structure; one row per user (~1M rows for the benchmark's users) stays in cache
 * where a b-tree of every user day (10M entries) does not, and user_day keeps a single, day-ordered index that only
 * grows at today's end (docs/performance.md#analytics).
 *
 * The step runs under one transaction-scoped advisory lock, taken after the events are inserted (concurrently) and
 * held until commit: the rollup writes of two batches never interleave, so each sees the other's days either
 * entirely (committed) or not yet (it comes after). Days before the horizon are dropped from user_activity; an
 * event that old is refused at ingestion, so they never count again.
 */
export interface UserDay {
  day: string
  user_id: string
}

/** The lock of the rollup step: one per schema (hashtext of `<schema>:analytics-rollup`). */
export const rollupLockKey = (schema: string) => `${schema}:analytics-rollup`

export async function lockRollups(tx: Queryable, schema: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtext(${rollupLockKey(schema)}))`
}

export interface RollupOptions {
  schema: string
  maxEventAgeDays: number
  /** Whether daily_user_sketches exists (the hll extension is there: migration 0003); see hasSketches. */
  sketches: boolean
}

/**
 * 2^14 registers (log2m 14) of the default 5 bits: the sketches' size and precision (migration 0003). Every sketch
 * of the table must have the same, or they cannot be unioned.
 */
export const SKETCH_LOG2M = 14

/**
 * The users of each day of `source` (a fragment naming a relation with day and user_id) added to that day's
 * sketch: one upsert.
 */
export function addToSketches(tx: Queryable, source: Fragment): Fragment {
  return tx`
    insert into daily_user_sketches as s (day, users)
    select day, hll_add_agg(hll_hash_text(user_id), ${SKETCH_LOG2M}::int) from ${source} group by day order by day
    on conflict (day) do update set users = hll_union(s.users, excluded.users)`
}

/** Whether this schema keeps the sketches: migration 0003 made daily_user_sketches (the hll extension was there). */
export async function hasSketches(db: Queryable): Promise<boolean> {
  const [row] = await db<{ on: boolean }[]>`select to_regclass('daily_user_sketches') is not null as on`
  return row?.on ?? false
}

/** How many days user_activity keeps: the oldest accepted event's day, and the 7 before it, and one of margin. */
export const horizonDays = (maxEventAgeDays: number) => maxEventAgeDays + 9

/**
 * The rollup step for the (day, user) pairs of the events a batch stored (duplicates allowed; days the user already
 * had change nothing). Returns how many user days were new.
 */
export async function advanceRollups(tx: Tx, options: RollupOptions, userDays: UserDay[]): Promise<number> {
  const { schema, maxEventAgeDays } = options
  if (userDays.length === 0) return 0
  await lockRollups(tx, schema)
  const [row] = await tx<{ new_days: number }[]>`
    with candidates as (
      select distinct day, user_id from json_to_recordset(${jsonText(tx, JSON.stringify(userDays))}::json)
        as t(day date, user_id text)
    ),
    -- Per user: the days known before this batch, and those of the batch that are new.
    users as (
      select c.user_id, coalesce(a.days, '{}') as old_days,
        array_agg(c.day order by c.day) filter (where a.days is null or not (c.day = any(a.days))) as new_days
      from candidates c left join user_activity a on a.user_id = c.user_id
      group by c.user_id, a.days
    ),
    -- Every row whose bits may change: the new days, and the known days within 7 days after a new one.
    affected as (
      select u.user_id, d.day, d.day = any(u.new_days) as inserted, u.old_days, u.new_days
      from users u cross join lateral unnest(u.old_days || u.new_days) as d(day)
      where u.new_days is not null
        and exists (select 1 from unnest(u.new_days) as n(day) where d.day between n.day and n.day + 7)
    ),
    bits as (
      select user_id, day, inserted,
        case when inserted then 0 else
          (select coalesce(bit_or(1 << (a.day - p - 1)), 0) from unnest(a.old_days) as p
            where p between a.day - 7 and a.day - 1)
        end::smallint as old,
        (select coalesce(bit_or(1 << (a.day - p - 1)), 0) from unnest(a.old_days || a.new_days) as p
          where p between a.day - 7 and a.day - 1)::smallint as new
      from affected a
    ),
    inserted as (
      insert into user_day (day, user_id, prior_days)
      select day, user_id, new from bits where inserted order by day, user_id
      on conflict do nothing
      returning day, user_id
    ),
    updated as (
      update user_day u set prior_days = b.new
      from bits b
      where not b.inserted and b.new <> b.old and u.day = b.day and u.user_id = b.user_id
    ),
    remembered as (
      insert into user_activity as a (user_id, days)
      select user_id, array(
          select d from unnest(old_days || new_days) as d
          where d >= (now() at time zone 'UTC')::date - ${horizonDays(maxEventAgeDays)}::int order by d)
      from users where new_days is not null
      order by user_id
      on conflict (user_id) do update set days = excluded.days
    ),
    -- A row the insert found already there (only if user_activity lost it) counts nothing twice.
    counted as (
      select b.* from bits b where not b.inserted and b.new <> b.old
      union all
      select b.* from bits b join inserted i on i.day = b.day and i.user_id = b.user_id
    ),
    deltas as (
      select day,
        count(*) filter (where inserted) as active_users,
        count(*) filter (where old = 0 and new <> 0) as returning_users,
        count(*) filter (where new & 1 <> 0 and old & 1 = 0) as back_1,
        count(*) filter (where new & 2 <> 0 and old & 2 = 0) as back_2,
        count(*) filter (where new & 4 <> 0 and old & 4 = 0) as back_3,
        count(*) filter (where new & 8 <> 0 and old & 8 = 0) as back_4,
        count(*) filter (where new & 16 <> 0 and old & 16 = 0) as back_5,
        count(*) filter (where new & 32 <> 0 and old & 32 = 0) as back_6,
        count(*) filter (where new & 64 <> 0 and old & 64 = 0) as back_7
      from counted group by day
    ),
    summed as (
      insert into daily_activity as d (
        day, active_users, returning_users, back_1, back_2, back_3, back_4, back_5, back_6, back_7)
      select * from deltas order by day
      on conflict (day) do update set
        active_users = d.active_users + excluded.active_users,
        returning_users = d.returning_users + excluded.returning_users,
        back_1 = d.back_1 + excluded.back_1,
        back_2 = d.back_2 + excluded.back_2,
        back_3 = d.back_3 + excluded.back_3,
        back_4 = d.back_4 + excluded.back_4,
        back_5 = d.back_5 + excluded.back_5,
        back_6 = d.back_6 + excluded.back_6,
        back_7 = d.back_7 + excluded.back_7,
        updated_at = now()
    )
    ${options.sketches ? tx`, sketched as (${addToSketches(tx, tx`candidates`)})` : tx``}
    select count(*)::int as new_days from inserted`
  return row?.new_days ?? 0
}
