-- The trace context of each event (docs/operations.md "Tracing"): the W3C trace id (32 hex) and span id (16 hex) of
-- the span it was recorded in, '' for events recorded with tracing off (and every event before this migration). A
-- row's trace_id is the id to look up in the trace store (Jaeger, Tempo), and the one in the log lines of its request.
--
-- Runs on 18.16 and current releases. 18.16 has no ADD COLUMN IF NOT EXISTS: a column that exists already (this
-- migration failed half-way and runs again) makes ClickHouse answer ILLEGAL_COLUMN, which the migration runner takes
-- as done for an ADD COLUMN (clickhouse-migrations.ts). One column per statement for that reason.
ALTER TABLE event_log ADD COLUMN trace_id String DEFAULT '' AFTER metadata_version;
ALTER TABLE event_log ADD COLUMN span_id String DEFAULT '' AFTER trace_id;

-- The view lists its columns (18.16 expands `*` at creation): recreated with the new ones.
DROP TABLE IF EXISTS event_log_dedup;
CREATE VIEW IF NOT EXISTS event_log_dedup AS
SELECT event_id, service, event_type, event_date_time, environment, event_context, metadata_version, inserted_at,
  trace_id, span_id
FROM event_log FINAL;
