import type { Sql } from '@platform/db'
import { addToSketches, hasSketches, horizonDays, lockRollups } from './rollup.js'

export interface RebuildReport {
  userDays: number
  days: number
}

/**
 * Rebuilds the rollups of the days `from` .. `to` from `events` (docs/analytics.md#rebuilding-the-rollups): after
 * events were loaded around the ingestion path (a backfill with COPY, the benchmark's generate_series), or if the
 * rollups were ever suspected wrong. In one transaction, holding the rollup lock (ingestion's rollup steps wait
 * meanwhile, up to their statement deadline):
 *   1. the user days of the range, from the events, each with its bits computed by a window over the user's days
 *      (the range's and the 7 days before it, which stay as they are);
 *   2. the bits of the 7 days after the range, which the range's days are "days before" of;
 *   3. daily_activity of the range and those 7 days, counted from user_day;
 *   4. user_activity, every user's days back to the horizon, from user_day;
 *   5. where the hll extension is, the range's daily sketches, from user_day.
 * Cost: one read of the range's events and a sort of its user days; ~10M events in a few minutes
 * (docs/performance.md#analytics).
 */
export async function rebuildRollups(
  sql: Sql,
  options: { schema: string; maxEventAgeDays: number },
  from: string,
  to: string,
): Promise<RebuildReport> {
  const { schema } = options
  return sql.begin(async (tx) => {
    await tx`set local statement_timeout = 0`
    await lockRollups(tx, schema)
    await tx`delete from user_day where day between ${from}::date and ${to}::date`
    const inserted = await tx`
      insert into user_day (day, user_id, prior_days)
      select day, user_id, (select coalesce(bit_or(1 << (w.day - p - 1)), 0) from unnest(w.prev) as p)::smallint
      from (
        select day, user_id, fresh,
          array_agg(day) over (partition by user_id order by day
            range between interval '7 days' preceding and interval '1 day' preceding) as prev
        from (
          select day, user_id, false as fresh from user_day
          where day between ${from}::date - 7 and ${from}::date - 1
          union all
          select distinct (performed_at at time zone 'UTC')::date, user_id, true from events
          where performed_at >= (${from}::date::timestamp at time zone 'UTC')
            and performed_at < ((${to}::date + 1)::timestamp at time zone 'UTC')
        ) as days
      ) as w
      where fresh`
    await tx`
      update user_day u set prior_days = c.prior
      from (
        select day, user_id, (select coalesce(bit_or(1 << (w.day - p - 1)), 0) from unnest(w.prev) as p)::smallint as prior
        from (
          select day, user_id, array_agg(day) over (partition by user_id order by day
            range between interval '7 days' preceding and interval '1 day' preceding) as prev
          from user_day where day between ${to}::date - 6 and ${to}::date + 7
        ) as w
        where day > ${to}::date
      ) as c
      where u.day = c.day and u.user_id = c.user_id and u.prior_days <> c.prior`
    await tx`delete from daily_activity where day between ${from}::date and ${to}::date + 7`
    const days = await tx`
      insert into daily_activity (
        day, active_users, returning_users, back_1, back_2, back_3, back_4, back_5, back_6, back_7)
      select day, count(*), count(*) filter (where prior_days <> 0),
        count(*) filter (where prior_days & 1 <> 0), count(*) filter (where prior_days & 2 <> 0),
        count(*) filter (where prior_days & 4 <> 0), count(*) filter (where prior_days & 8 <> 0),
        count(*) filter (where prior_days & 16 <> 0), count(*) filter (where prior_days & 32 <> 0),
        count(*) filter (where prior_days & 64 <> 0)
      from user_day where day between ${from}::date and ${to}::date + 7
      group by day`
    await tx`truncate user_activity`
    await tx`
      insert into user_activity (user_id, days)
      select user_id, array_agg(day order by day) from user_day
      where day >= (now() at time zone 'UTC')::date - ${horizonDays(options.maxEventAgeDays)}::int
      group by user_id`
    if (await hasSketches(tx)) {
      await tx`delete from daily_user_sketches where day between ${from}::date and ${to}::date`
      await addToSketches(
        tx,
        tx`(select day, user_id from user_day where day between ${from}::date and ${to}::date) as range_days`,
      )
    }
    return { userDays: inserted.count, days: days.count }
  }) as Promise<RebuildReport>
}
