-- Rows ClickHouse rejected (poison rows), for operators: the message went to log-shipper.eventlog.dlq with the
-- same reason; this table is the queryable record of which batch, which event and why (docs/eventlog.md).
-- A replayed event that fails again adds another row: the table is a log, not a state.
-- (The ClickHouse schema has its own migrations: ../clickhouse/*.sql, applied by the shipper at start.)
create table failed_events (
  id          bigserial primary key,
  batch_id    uuid not null,
  event_id    text not null,
  message_id  text not null,
  service     text not null,
  event_type  text not null,
  error       text not null,
  -- The claim-check id when the context waits in eventlog_claims.payloads (kept there for the replay).
  payload_ref uuid,
  -- The message as received; a claim-checked context is not copied here.
  message     jsonb not null,
  failed_at   timestamptz not null default now()
);
create index failed_events_failed_at on failed_events (failed_at);
create index failed_events_event_id on failed_events (event_id);
