/**
 * Every query the analytics API runs, and the raw reference queries over `events` that the rollups must agree with
 * (docs/analytics.md#the-sql), as fixed texts with positional parameters: the repository runs exactly these, and
 * test/plans.int.test.ts runs EXPLAIN (FORMAT JSON) on exactly these, failing on a sequential scan of events (or a
 * partition) or of user_day.
 *
 * Days are UTC days: a day D covers [D 00:00 UTC, D+1 00:00 UTC). `$n::date::timestamp at time zone 'UTC'` is that
 * midnight as a timestamptz, whatever the session's TimeZone.
 */
export interface QueryDef {
  /** What it answers. */
  name: string
  text: string
}

const utc = (expr: string) => `((${expr})::timestamp at time zone 'UTC')`

/** The API's queries: the rollups only. */
export const rollupQueries = {
  /** $1 from, $2 to. Days without a row had no active user. */
  dau: {
    name: 'DAU from daily_activity',
    text: `select day::text as day, active_users as users from daily_activity
      where day between $1::date and $2::date order by day`,
  },
  /** $1 day. */
  retention: {
    name: 'retention from daily_activity',
    text: `select active_users as active, returning_users as returning from daily_activity where day = $1::date`,
  },
  /** $1 day, $2 after (user id of the previous page's last row, '' for the first page), $3 limit. */
  returningUsers: {
    name: 'returning users of a day from user_day',
    text: `select user_id from user_day
      where day = $1::date and prior_days <> 0 and user_id > $2::text
      order by user_id limit $3::int`,
  },
  /** $1 from, $2 to: the cohorts' days and the 7 after the last one (back_k of day D+k is cohort D, k days later). */
  cohorts: {
    name: 'cohorts from daily_activity',
    text: `select day::text as day, active_users as users,
        back_1, back_2, back_3, back_4, back_5, back_6, back_7
      from daily_activity where day between $1::date and $2::date + 7 order by day`,
  },
  /**
   * $1 day, $2 window (days): the users active on at least one of the `window` days ending on `day`, counted
   * exactly. One range of user_day's primary key (day first), its user ids deduplicated: ~7 x DAU entries for a week.
   */
  activeUsers: {
    name: 'active users of a window from user_day',
    text: `select count(distinct user_id)::int as users from user_day
      where day between $1::date - ($2::int - 1) and $1::date`,
  },
  /**
   * $1 from, $2 to, $3 window: per day of the range, the estimate of the same count from the union of the window's
   * daily HyperLogLog sketches (migration 0003; a standard error of 1.3%), a few rows per day whatever the users.
   */
  activeUserEstimates: {
    name: 'estimated active users of windows from daily_user_sketches',
    text: `select g.day::date::text as day,
        coalesce((select round(hll_cardinality(hll_union_agg(s.users)))::int from daily_user_sketches s
          where s.day between g.day::date - ($3::int - 1) and g.day::date), 0) as users
      from generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') as g(day)
      order by 1`,
  },
} satisfies Record<string, QueryDef>

/**
 * The reference: the same answers computed from `events` alone. Each day is its own subquery on one day's time range
 * (an index-only scan of the primary key, performed_at first, user_id included), bounded also by the whole range's
 * constants so the planner prunes the partitions outside it. A user's earlier activity is a probe of
 * events_user_performed per user.
 */
export const rawQueries = {
  /** $1 from, $2 to. */
  dau: {
    name: 'DAU from events',
    text: `select g.day::date::text as day,
        (select count(distinct e.user_id) from events e
          where e.performed_at >= (g.day at time zone 'UTC')
            and e.performed_at < ((g.day + interval '1 day') at time zone 'UTC')
            and e.performed_at >= ${utc('$1::date')} and e.performed_at < ${utc('$2::date + 1')})::int as users
      from generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') as g(day)
      order by 1`,
  },
  /** $1 day. */
  retention: {
    name: 'retention from events',
    text: `with active as (
        select distinct user_id from events
        where performed_at >= ${utc('$1::date')} and performed_at < ${utc('$1::date + 1')}
      )
      select count(*)::int as active,
        count(*) filter (where exists (
          select 1 from events p where p.user_id = a.user_id
            and p.performed_at >= ${utc('$1::date - 7')} and p.performed_at < ${utc('$1::date')}))::int as returning
      from active a`,
  },
  /** $1 day: every returning user, in the API's order. */
  returningUsers: {
    name: 'returning users of a day from events',
    text: `select a.user_id from (
        select distinct user_id from events
        where performed_at >= ${utc('$1::date')} and performed_at < ${utc('$1::date + 1')}
      ) a
      where exists (
        select 1 from events p where p.user_id = a.user_id
          and p.performed_at >= ${utc('$1::date - 7')} and p.performed_at < ${utc('$1::date')})
      order by a.user_id`,
  },
  /** $1 day, $2 window: the users active on at least one of the `window` days ending on `day`. */
  activeUsers: {
    name: 'active users of a window from events',
    text: `select count(distinct user_id)::int as users from events
      where performed_at >= ${utc('$1::date - ($2::int - 1)')} and performed_at < ${utc('$1::date + 1')}`,
  },
  /** $1 from, $2 to: per cohort day, its users and how many of them were active again 1..7 days later. */
  cohorts: {
    name: 'cohorts from events',
    text: `with cohort as (
        select g.day::date as day, a.user_id
        from generate_series($1::date::timestamp, $2::date::timestamp, interval '1 day') as g(day)
        cross join lateral (
          select distinct e.user_id from events e
          where e.performed_at >= (g.day at time zone 'UTC')
            and e.performed_at < ((g.day + interval '1 day') at time zone 'UTC')
            and e.performed_at >= ${utc('$1::date')} and e.performed_at < ${utc('$2::date + 1')}
        ) a
      )
      select c.day::text as day, count(*)::int as users,
        ${[1, 2, 3, 4, 5, 6, 7]
          .map(
            (k) => `count(*) filter (where exists (select 1 from events r where r.user_id = c.user_id
            and r.performed_at >= ${utc(`c.day + ${k}`)} and r.performed_at < ${utc(`c.day + ${k + 1}`)}
            and r.performed_at >= ${utc('$1::date + 1')} and r.performed_at < ${utc('$2::date + 8')}))::int as after_${k}`,
          )
          .join(',\n        ')}
      from cohort c group by c.day order by c.day`,
  },
} satisfies Record<string, QueryDef>
