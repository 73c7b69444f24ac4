-- The event log (docs/eventlog.md). Runs on ClickHouse 18.16 and current releases: the MergeTree family's
-- PARTITION BY / ORDER BY syntax, DateTime with a time zone, a plain view; no TTL, DateTime64, JSON type or
-- LowCardinality.
--
-- Dedupe: ReplacingMergeTree collapses rows with the same ORDER BY key within a partition when parts merge
-- (https://clickhouse.com/docs/engines/table-engines/mergetree-family/replacingmergetree). A redelivered event is
-- the same message again, so its copy has the same event_type, event_date_time and event_id (hence the same
-- partition and key) and collapses into one row. Until a merge has happened both copies are stored, so readers
-- deduplicate with FINAL (or the view below, or argMax by event_id).
--
-- event_date_time leads after event_type: queries select an event type over a time range. event_id ends the key
-- so two events of one type in one second stay two rows.
CREATE TABLE IF NOT EXISTS event_log (
  event_id         UUID,
  service          String,
  event_type       String,
  event_date_time  DateTime('UTC'),
  environment      String,
  event_context    String,
  metadata_version UInt64,
  inserted_at      DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(event_date_time)
ORDER BY (event_type, event_date_time, event_id);

-- The deduplicated event log. Columns are listed, not `*`: ClickHouse 18.16 expands `*` when the view is
-- created, so a migration that adds a column to event_log drops and recreates this view with it.
CREATE VIEW IF NOT EXISTS event_log_dedup AS
SELECT event_id, service, event_type, event_date_time, environment, event_context, metadata_version, inserted_at
FROM event_log FINAL;
