import type { Migration } from '@platform/db'

/**
 * The outbox table every service gets in its own schema (applied with the service's migrations, ids namespaced
 * "outbox/..."). Rows live only until the broker confirmed them: the relay deletes them after the confirm.
 *
 * `bucket` = hash(ordering key) mod 16. A relay takes a transaction-scoped advisory lock per bucket before it
 * reads that bucket, so two relays never publish rows of one key at the same time: per-key order holds with any
 * number of relays (docs/adr/0001-outbox-relay.md).
 */
export const outboxMigrations: Migration[] = [
  {
    id: 'outbox/0001_outbox',
    sql: `
      create table outbox (
        id             bigserial primary key,
        message_id     uuid not null,
        exchange       text not null,
        routing_key    text not null,
        type           text,
        body           jsonb not null,
        headers        jsonb not null default '{}'::jsonb,
        correlation_id text,
        ordering_key   text,
        bucket         smallint not null,
        created_at     timestamptz not null default now()
      );
      create index outbox_bucket_id on outbox (bucket, id);

      -- Wake relays on commit (NOTIFY is delivered at commit, never for a rolled-back insert).
      -- One notification per statement, not per row: a 1,000-row insert wakes the relay once.
      create function outbox_notify() returns trigger language plpgsql as $$
      begin
        perform pg_notify(tg_table_schema || '_outbox', '');
        return null;
      end $$;
      create trigger outbox_notify after insert on outbox for each statement execute function outbox_notify();
    `,
  },
  {
    // The relay never looks inside a body: it passes the text the producer wrote straight to the broker. json keeps
    // that text as written (jsonb would parse it into a binary form on insert and print it again on read).
    id: 'outbox/0002_body_json',
    sql: `alter table outbox alter column body type json using body::json;`,
  },
  {
    // Bulk bodies (event-log envelopes, up to 64 KiB) are TOASTed: lz4 compresses on insert and decompresses for the
    // relay's read at a fraction of pglz's CPU. A server built without lz4 keeps pglz (a speed setting only).
    id: 'outbox/0003_body_lz4',
    sql: `
      do $$
      begin
        alter table outbox alter column body set compression lz4;
      exception when feature_not_supported then
        null;
      end $$;
    `,
  },
  {
    // W3C trace context of what the row carries (docs/operations.md "Tracing"): the relay publishes it in a span that
    // continues that trace. A row of one message: its traceparent and tracestate. A row of several (an envelope, a
    // rows message written in SQL by ingest's group commit): one traceparent per message, in order, comma-separated
    // ('' for one without), and no tracestate. Null with tracing off.
    id: 'outbox/0004_trace_context',
    sql: `alter table outbox add column traceparent text, add column tracestate text;`,
  },
]
