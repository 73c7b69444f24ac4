-- Webhook events (docs/webhooks.md, docs/adr/0008-ingest-group-commit.md).
--
-- events is range-partitioned by received_at, one partition per UTC day, so retention drops whole partitions
-- instead of deleting rows (no long locks, no vacuum debt): https://www.postgresql.org/docs/15/ddl-partitioning.html
-- A unique index on a partitioned table must contain the partition key, so "one event per (source, dedupe_key)"
-- cannot live on events: dedupe_keys (not partitioned) holds it, and outlives the events it points to.
create table events (
  id             uuid not null,
  source         text not null,
  event_id       text not null,
  event_type     text not null,
  format         text not null,
  payload        jsonb not null,
  status         text not null default 'queued'
                 check (status in ('queued', 'processing', 'completed', 'failed', 'dead')),
  attempts       integer not null default 0,
  last_error     text,
  -- The version of the last status applied: a status message with a lower or equal one is ignored.
  status_version bigint not null default 0,
  received_at    timestamptz not null,
  updated_at     timestamptz not null,
  primary key (received_at, id)
) partition by range (received_at);

-- GET /v1/webhooks/:source?status=... lists newest first with a keyset cursor on (received_at, id).
create index events_source_status on events (source, status, received_at desc, id desc);
create index events_source_received on events (source, received_at desc, id desc);

create table dedupe_keys (
  source      text not null,
  dedupe_key  text not null,
  event_id    uuid not null,
  received_at timestamptz not null,
  primary key (source, dedupe_key)
);
-- Retention prunes keys oldest first, in small batches.
create index dedupe_keys_received_at on dedupe_keys (received_at);

-- Creates the daily partitions covering [first_day, last_day] that do not exist yet; returns how many it made.
-- Partitions are named events_pYYYYMMDD and bounded by UTC midnights.
create function ensure_event_partitions(first_day date, last_day date) returns integer
language plpgsql as $$
declare
  d date := first_day;
  made integer := 0;
  name text;
begin
  while d <= last_day loop
    name := 'events_p' || to_char(d, 'YYYYMMDD');
    if to_regclass(format('%I.%I', current_schema(), name)) is null then
      execute format(
        'create table %I.%I partition of %I.events for values from (%L) to (%L)',
        current_schema(), name, current_schema(),
        (d::timestamp at time zone 'UTC'), ((d + 1)::timestamp at time zone 'UTC'));
      made := made + 1;
    end if;
    d := d + 1;
  end loop;
  return made;
end $$;

-- Today and the next days exist from the first start on; the retention job keeps creating them ahead.
select ensure_event_partitions((now() at time zone 'UTC')::date - 1, (now() at time zone 'UTC')::date + 7);
