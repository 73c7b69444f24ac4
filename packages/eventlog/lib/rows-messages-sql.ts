import {
  EVENT_COUNT_HEADER,
  EVENTS_PER_ENVELOPE,
  type EventLogRowV1,
  eventLogRows,
  ROWS_PREFIX,
  ROWS_SUFFIX,
} from '@platform/contracts'
import type { Queryable } from '@platform/db'
import { routingKeyOf } from '@platform/messaging'
import { traceparentsSql } from '@platform/outbox'
import type postgres from 'postgres'

/**
 * rowsMessages (event-log.ts) in SQL, for a producer that decides inside one statement which events exist (ingest's
 * group commit: only the webhooks whose dedupe key is new get a `webhook.accepted` event,
 * services/ingest/src/accept-batch.ts). A select of outbox rows (OUTBOX_SOURCE_COLUMNS of @platform/outbox, for
 * insertOutboxRows) that packs the rows of `rows` into eventLogRows messages of at most `perMessage` rows each: body
 * ROWS_PREFIX + the rows' JSON joined by commas + ROWS_SUFFIX, the count in EVENT_COUNT_HEADER, exactly what
 * rowsMessages writes, so the shipper reads both alike (as bytes, unparsed; docs/eventlog.md).
 *
 * `rows` is a relation (a CTE's name as sql`fresh`, or a subquery) with a column `row_json` of type json holding each
 * row as rowJson wrote it: json keeps that text as written, so it reaches ClickHouse unchanged. The caller keeps the
 * rows under ENVELOPE_BYTES by its choice of `perMessage` (rows of a known, bounded size).
 *
 * `traced`: the relation also has a column `traceparent` (text, null for none), each row's trace context; the
 * message's outbox row then gets them all (traceparentsSql), so the relay continues every row's trace.
 */
export function rowsMessagesSql(
  sql: Queryable,
  rows: postgres.Fragment,
  options: { service: string; perMessage?: number; traced?: boolean },
): postgres.Fragment {
  const perMessage = Math.min(options.perMessage ?? EVENTS_PER_ENVELOPE, EVENTS_PER_ENVELOPE)
  // From the catalog: the routing key of a rows message depends only on the emitting service.
  const routingKey = routingKeyOf(eventLogRows, { rows: [{ service: options.service } as EventLogRowV1] })
  return sql`
    select null::uuid as message_id, ${eventLogRows.exchange.name}::text as exchange, ${routingKey}::text as routing_key,
      ${eventLogRows.type}::text as type,
      (${ROWS_PREFIX}::text || string_agg(row_json::text, ',' order by n) || ${ROWS_SUFFIX}::text)::json as body,
      jsonb_build_object(${EVENT_COUNT_HEADER}::text, count(*)) as headers, null::text as correlation_id,
      null::text as ordering_key,
      ${options.traced ? traceparentsSql(sql, sql`traceparent`, sql`n`) : sql`null::text`} as traceparent,
      null::text as tracestate
    from (
      select row_json, ${options.traced ? sql`traceparent` : sql`null::text as traceparent`},
        row_number() over () - 1 as n
      from ${rows}
    ) as numbered
    group by n / ${perMessage}`
}
