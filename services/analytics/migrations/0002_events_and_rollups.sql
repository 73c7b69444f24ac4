-- Activity events and their rollups (docs/analytics.md#schema). The shell's daily_event_counts never had a writer.
drop table daily_event_counts;

-- Every event as it arrived, append-only, one partition per UTC month (partitions.ts creates them ahead and detaches
-- old ones; https://www.postgresql.org/docs/15/ddl-partitioning.html).
--
-- The primary key is the deduplication: an event is its id at its time. A unique index of a partitioned table must
-- hold the partition key, so "one row per event_id" alone cannot be declared; a producer's retry carries the same
-- id and the same performedAt (the same event), which this key skips. Ordered by time first, so the index grows at
-- its right edge as live events arrive, and it also serves every time-range read; INCLUDE (user_id) lets the raw DAU
-- and retention queries count users from the index alone (an index-only scan, no heap visit).
--
-- user_id is collated "C": byte order, cheaper to compare in every b-tree than a linguistic collation, and nothing
-- here sorts user ids for people to read.
create table events (
  event_id     uuid not null,
  user_id      text collate "C" not null,
  course_id    text,
  kind         text not null,
  performed_at timestamptz not null,
  properties   jsonb,
  received_at  timestamptz not null default now(),
  primary key (performed_at, event_id) include (user_id)
) partition by range (performed_at);

-- "Was this user active between these times?": the raw retention and cohort queries probe it once per user of a
-- day. Without it each probe would read the whole time range.
create index events_user_performed on events (user_id, performed_at);

-- One row per user per active UTC day, written in the transaction that stores the user's first event of that day.
-- prior_days: bit k-1 set = the user was also active k days before `day` (k = 1..7). It answers retention
-- (prior_days <> 0: a returning user) and cohorts (bit k-1 of the rows of day D+k: active on D and D+k) without
-- looking at any other row. Its one index is the primary key, in day order: new rows land at today's end of it,
-- and a day's returning users are one range of it.
create table user_day (
  day        date not null,
  user_id    text collate "C" not null,
  prior_days smallint not null default 0,
  primary key (day, user_id)
);

-- One row per user: the user's active days back to the rollup's horizon (rollup.ts), the one row the rollup step
-- reads and rewrites per user of a batch. Users arrive in no order, so this is a random lookup per new user day: one
-- row per user stays in cache where an index of every user day would not. fillfactor 80 leaves room on each page
-- for the rewritten row (a HOT update: no index entry to add).
create table user_activity (
  user_id text collate "C" primary key,
  days    date[] not null
) with (fillfactor = 80);

-- One row per UTC day, kept in step with user_day in the same transaction: what the API reads.
--   active_users     users active on the day
--   returning_users  of those, users also active on at least one of the 7 days before
--   back_k           of those, users also active exactly k days before (cohort of day - k, k days later)
create table daily_activity (
  day             date primary key,
  active_users    integer not null default 0,
  returning_users integer not null default 0,
  back_1          integer not null default 0,
  back_2          integer not null default 0,
  back_3          integer not null default 0,
  back_4          integer not null default 0,
  back_5          integer not null default 0,
  back_6          integer not null default 0,
  back_7          integer not null default 0,
  updated_at      timestamptz not null default now()
);

-- Creates the monthly partitions covering first_month .. last_month that do not exist yet; returns how many it made.
-- Named events_pYYYYMM, bounded by UTC midnights of the first of the month.
create function ensure_event_partitions(first_month date, last_month date) returns integer
language plpgsql as $$
declare
  m date := date_trunc('month', first_month)::date;
  made integer := 0;
  name text;
begin
  while m <= last_month loop
    name := 'events_p' || to_char(m, 'YYYYMM');
    if to_regclass(format('%I.%I', current_schema(), name)) is null
       and to_regclass(format('%I.%I', current_schema(), 'detached_' || name)) is null then
      execute format(
        'create table %I.%I partition of %I.events for values from (%L) to (%L)',
        current_schema(), name, current_schema(),
        (m::timestamp at time zone 'UTC'), ((m + interval '1 month')::timestamp at time zone 'UTC'));
      made := made + 1;
    end if;
    m := (m + interval '1 month')::date;
  end loop;
  return made;
end $$;
