-- Cheaper writes of accepted webhooks (loadtest/ingest/bench.ts; docs/adr/0008-ingest-group-commit.md), measured per
-- row in one statement of 30,000 rows on PostgreSQL 15.
--
-- payload becomes json: ingest stores the payload for the record and never queries inside it, and json keeps the text
-- as the JSON parser checked it, where jsonb also converts it into its binary form (~6 µs per row).
--
-- The status listing index holds only the statuses worth looking for one by one (processing, failed, dead): a new
-- event (queued) no longer adds an entry to it (~5 µs per row), and a status update that stays outside it can be HOT.
-- `?status=queued` and `?status=completed` walk events_source_received newest first and filter: queued events are
-- the newest ones and completed ones the bulk, so a page fills after a short walk.
alter table events alter column payload type json using payload::json;

drop index events_source_status;
create index events_source_status_rare on events (source, status, received_at desc, id desc)
  where status in ('processing', 'failed', 'dead');
