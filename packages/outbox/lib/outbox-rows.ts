import type { Queryable } from '@platform/db'
import type postgres from 'postgres'

/**
 * The outbox's row rule, in one place: which columns a producer fills and how a row's bucket follows from its
 * ordering key. enqueueMany uses it for rows it is given; a producer that builds its rows in SQL inside a larger
 * statement (ingest's group commit, services/ingest/src/accept-batch.ts: one round trip for events, dedupe keys and
 * their messages) composes the same insert with its own select, so neither the column list nor the bucket rule is
 * repeated there.
 */

/** Buckets of the outbox: a relay locks one bucket at a time, so one relay at a time publishes a bucket's rows. */
export const BUCKETS = 16

/**
 * What the select given to insertOutboxRows must yield, by name (any order; a null takes the default):
 *   message_id      uuid, null: a new one (gen_random_uuid()). Consumers deduplicate by it;
 *   exchange        text;
 *   routing_key     text;
 *   type            text, the AMQP type (null: none);
 *   body            json, published as its text;
 *   headers         jsonb (null: none);
 *   correlation_id  text (null: none);
 *   ordering_key    text (null: no order with other rows; the row goes to any bucket);
 *   traceparent     text, the W3C trace context of each message the row carries (traceparentsSql; null: none);
 *   tracestate      text (null: none).
 */
export const OUTBOX_SOURCE_COLUMNS = [
  'message_id',
  'exchange',
  'routing_key',
  'type',
  'body',
  'headers',
  'correlation_id',
  'ordering_key',
  'traceparent',
  'tracestate',
] as const

/**
 * The bucket of a row with this ordering key (an SQL expression): the first 16 bits of md5(key), mod BUCKETS, so every
 * message of one key lands in one bucket and one relay at a time sends it in order. A row without a key goes to a
 * random bucket: no hash to compute, and such rows spread evenly.
 */
export function bucketSql(sql: Queryable, orderingKey: postgres.Fragment): postgres.Fragment {
  return sql`(case when ${orderingKey} is null then floor(random() * ${BUCKETS})
    else ('x' || left(md5(${orderingKey}), 4))::bit(16)::int % ${BUCKETS} end)::smallint`
}

/**
 * `insert into outbox ... select ... from (<rows>)`, a fragment to run alone or as a data-modifying CTE of a larger
 * statement: `rows` is a select yielding OUTBOX_SOURCE_COLUMNS. The rows are inserted in the order the select yields
 * them (ids ascending), which is the order the relay publishes a key's messages in.
 */
export function insertOutboxRows(sql: Queryable, rows: postgres.Fragment): postgres.Fragment {
  return sql`
    insert into outbox (message_id, exchange, routing_key, type, body, headers, correlation_id, ordering_key, bucket,
      traceparent, tracestate)
    select coalesce(m.message_id, gen_random_uuid()), m.exchange, m.routing_key, m.type, m.body,
      coalesce(m.headers, '{}'::jsonb), m.correlation_id, m.ordering_key, ${bucketSql(sql, sql`m.ordering_key`)},
      m.traceparent, m.tracestate
    from (${rows}) as m`
}

/**
 * The `traceparent` of a row that carries several messages, as an aggregate over them (in a `group by` that makes one
 * row of many, ordered like the messages in the body): each one's traceparent, comma-separated, '' for one without;
 * null when none has one (tracing off), so the relay then makes no span.
 */
export function traceparentsSql(
  sql: Queryable,
  traceparent: postgres.Fragment,
  order: postgres.Fragment,
): postgres.Fragment {
  return sql`case when bool_or(${traceparent} is not null)
    then string_agg(coalesce(${traceparent}, ''), ',' order by ${order}) end`
}
