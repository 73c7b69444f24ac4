import type { Queryable, Tx } from '@platform/db'
import { jsonText } from '@platform/db'

/**
 * The rollups (docs/analytics.md#rollups): `user_day` (a row per user per active UTC day, with `prior_days`, the bits
 * of the 7 days before on which the user was active too) and `daily_activity` (a row per day: active, returning,
 * and back_k, the users also active exactly k days before). Both change only in the transaction that stores the
 * events that change them, so an answer is as fresh as the last commit.
 *
 * A new user day (d, u) changes the bits of u's rows from d to d+7: its own (the days before it) and those of the
 * 7 days after (d is one of their days before; that is the late event's case). `advance` recomputes those rows' bits
 * from scratch, and adds to daily_activity what changed: an inserted row counts as active, a row whose bits went
 * from none to some as returning, each bit newly set in back_k. Bits are only ever set (events are never deleted),
 * so "newly set" is `new & ~old`.
 *
 * Two transactions storing days of the same user must not both read the other's rows as absent: each would miss
 * the other's bit. Rather than lock each user, `advance` takes one transaction-scoped advisory lock for the rollup
 * step: it runs after the events and user_day inserts (which stay concurrent) and holds until commit, so a later
 * transaction's rollup step sees every earlier one committed. The one that locks first misses the other's row
 * (not committed yet), and the other, locking second, recomputes both rows of the user from what it then sees.
 */
export interface NewUserDay {
  day: string
  user_id: string
}

/** The lock of the rollup step: one per schema (hashtext of `<schema>:analytics-rollup`). */
export const rollupLockKey = (schema: string) => `${schema}:analytics-rollup`

export async function lockRollups(tx: Queryable, schema: string): Promise<void> {
  await tx`select pg_advisory_xact_lock(hashtext(${rollupLockKey(schema)}))`
}

/** The bits and daily counts of the rows the new user days change (the new rows and up to 7 days after each). */
export async function advanceRollups(tx: Tx, schema: string, fresh: NewUserDay[]): Promise<void> {
  if (fresh.length === 0) return
  await lockRollups(tx, schema)
  await tx`
    with fresh as (
      select * from json_to_recordset(${jsonText(tx, JSON.stringify(fresh))}::json) as t(day date, user_id text)
    ),
    affected as (
      select distinct u.day, u.user_id, u.prior_days
      from fresh f join user_day u on u.user_id = f.user_id and u.day between f.day and f.day + 7
    ),
    computed as (
      select a.day, a.user_id, a.prior_days as old,
        coalesce(bit_or(1 << (a.day - p.day - 1)), 0)::smallint as new
      from affected a
      left join user_day p on p.user_id = a.user_id and p.day between a.day - 7 and a.day - 1
      group by a.day, a.user_id, a.prior_days
    ),
    changes as (
      select c.*, f.user_id is not null as inserted
      from computed c left join fresh f on f.day = c.day and f.user_id = c.user_id
      where c.new <> c.old or f.user_id is not null
    ),
    updated as (
      update user_day u set prior_days = ch.new
      from changes ch
      where u.day = ch.day and u.user_id = ch.user_id and ch.new <> ch.old
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
      from changes group by day
    )
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
      updated_at = now()`
}
