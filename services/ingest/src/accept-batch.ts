import { randomUUID } from 'node:crypto'
import {
  type WebhookFormat,
  type WebhookReceivedV1,
  type WebhookStatus,
  webhookReceivedEnvelope,
} from '@platform/contracts'
import { jsonText, type Sql } from '@platform/db'
import { buildEventMessage, type EventLogOptions, rowJson, rowsMessagesSql } from '@platform/eventlog'
import { routingKeyOf } from '@platform/messaging'
import { insertOutboxRows, traceparentsSql } from '@platform/outbox'
import { parseTraceparent, type TraceCarrier, tracingEnabled } from '@platform/tracing'

/** One verified, schema-checked webhook waiting for its batch. */
export interface AcceptItem {
  source: string
  format: WebhookFormat
  dedupeKey: string
  eventType: string
  payload: unknown
  correlationId?: string
  /** Tracing on: the request's span, which its messages and its event-log row continue. */
  trace?: TraceCarrier
}

export interface AcceptResult {
  id: string
  source: string
  eventId: string
  /** `expired` when the dedupe key is still remembered but its event was removed by retention. */
  status: WebhookStatus | 'expired'
  receivedAt: Date
  /** True for a duplicate: the event existed (or an earlier copy in the same batch created it). */
  replayed: boolean
}

const keyOf = (source: string, dedupeKey: string) => `${source}\u0000${dedupeKey}`

/**
 * A webhook.accepted row is ~400 bytes of JSON (its context holds ids, no payload; a dedupe key is capped by the
 * payload schema), so 50 stay well under ENVELOPE_BYTES. At saturation a group commit holds ~20-60 events: about
 * one rows message per batch instead of one message per event.
 */
export const ACCEPTED_PER_ENVELOPE = 50

/**
 * Events of one source per `webhookReceivedEnvelope` message: a whole group commit (GROUP_COMMIT_MAX_BATCH, 128 by
 * default) fits. A batch also starts anew once its events' bodies pass RECEIVED_BATCH_BYTES, so a message stays near
 * a megabyte (one payload may be up to BODY_LIMIT_BYTES) and a redelivery after a processor crash repeats little.
 */
export const RECEIVED_PER_BATCH = 128
export const RECEIVED_BATCH_BYTES = 1_048_576

/**
 * Stores a batch of webhooks with ONE statement (so one round trip and one implicit transaction, whatever the batch
 * size; docs/adr/0008-ingest-group-commit.md):
 *   new_keys   INSERT INTO dedupe_keys ... ON CONFLICT DO NOTHING decides which candidates are new;
 *   new_events only those become events;
 *   outbox     and get their `webhook.received` messages, as `webhookReceivedEnvelope` messages of one source and up
 *              to RECEIVED_PER_BATCH events (one outbox row, one publish and one delivery for many events; the
 *              processor handles, retries and dead-letters each event on its own), and their `webhook.accepted`
 *              event-log records, as rows messages (eventLogRows) of up to ACCEPTED_PER_ENVELOPE events, the format
 *              eventLog.recordMany writes (rowsMessagesSql of @platform/eventlog). Both go through
 *              @platform/outbox's insertOutboxRows, which owns the outbox's columns and bucket rule.
 * The batch travels as one JSON parameter (json_to_recordset): a fixed statement text, prepared once. json, not
 * jsonb: the outbox bodies are copied out as the text they arrived as, and no value is converted to jsonb's binary
 * form (measured: ~5 µs less per event in PostgreSQL).
 *
 * Keys are inserted in (source, dedupe_key) order, so two concurrent batches lock shared keys in the same order and
 * cannot deadlock. A key held by another, uncommitted batch makes the insert wait for it; its outcome decides
 * (committed: ours is a duplicate; rolled back: ours is new). Duplicates are then read after the commit.
 */
export function createBatchAcceptor(sql: Sql, eventLog: EventLogOptions) {
  // Decided once, at start: with tracing off the statement aggregates no trace context at all.
  const traced = tracingEnabled()
  const traceparents = traced ? traceparentsSql(sql, sql`traceparent`, sql`n`) : sql`null::text`
  // The batch's key, from the catalog: it depends on the source only (a configured, bounded set), so once per source.
  const batchKeys = new Map<string, string>()
  const batchRoutingKey = (source: string, body: WebhookReceivedV1) => {
    let key = batchKeys.get(source)
    if (key === undefined) {
      key = routingKeyOf(webhookReceivedEnvelope, { messages: [{ id: body.id, correlationId: null, body }] })
      batchKeys.set(source, key)
    }
    return key
  }
  async function insertNew(candidates: (AcceptItem & { id: string })[], receivedAt: Date): Promise<Set<string>> {
    const logRows: string[] = []
    const input = candidates.map((c) => {
      const body: WebhookReceivedV1 = {
        id: c.id,
        source: c.source,
        eventId: c.dedupeKey,
        eventType: c.eventType,
        format: c.format,
        receivedAt: receivedAt.toISOString(),
        payload: c.payload,
      }
      const span = c.trace && parseTraceparent(c.trace.traceparent)
      const { message: log } = buildEventMessage(eventLog, {
        eventType: 'webhook.accepted',
        context: { id: c.id, source: c.source, eventId: c.dedupeKey, eventType: c.eventType },
        occurredAt: receivedAt,
        ...(span ? { trace: span } : {}),
      })
      // A context of ids stays far below the claim-check threshold: always inline.
      logRows.push(rowJson(log, log.context ?? 'null'))
      return {
        id: c.id,
        source: c.source,
        dedupe_key: c.dedupeKey,
        event_type: c.eventType,
        format: c.format,
        correlation_id: c.correlationId ?? null,
        message: body,
        routing_key: batchRoutingKey(c.source, body),
        // Left out (null) with tracing off.
        traceparent: c.trace?.traceparent,
      }
    })
    // Each row's JSON text as rowJson writes it, spliced into the parameter as JSON (not as a string to unescape).
    const text = `[${input.map((row, i) => `${JSON.stringify(row).slice(0, -1)},"log_row":${logRows[i]}}`).join(',')}]`
    const rows = await sql<{ event_id: string }[]>`
      with input as (
        select * from json_to_recordset(${jsonText(sql, text)}::json) as t(
          id uuid, source text, dedupe_key text, event_type text, format text, correlation_id text,
          message json, routing_key text, log_row json, traceparent text)
      ),
      new_keys as (
        insert into dedupe_keys (source, dedupe_key, event_id, received_at)
        select source, dedupe_key, id, ${receivedAt}::timestamptz from input order by source, dedupe_key
        on conflict do nothing
        returning event_id
      ),
      fresh as (select i.* from input i join new_keys k on k.event_id = i.id),
      new_events as (
        insert into events (id, source, event_id, event_type, format, payload, received_at, updated_at)
        select id, source, dedupe_key, event_type, format, message->'payload', ${receivedAt}::timestamptz,
          ${receivedAt}::timestamptz
        from fresh
      ),
      new_messages as (${insertOutboxRows(
        sql,
        sql`
          select null::uuid as message_id, ${webhookReceivedEnvelope.exchange.name}::text as exchange,
            min(routing_key) as routing_key, ${webhookReceivedEnvelope.type}::text as type,
            json_build_object('messages', json_agg(
              json_build_object('id', id, 'correlationId', correlation_id, 'body', message) order by n)) as body,
            null::jsonb as headers, null::text as correlation_id, null::text as ordering_key,
            ${traceparents} as traceparent, null::text as tracestate
          from (
            select *, row_number() over w - 1 as n,
              coalesce(sum(octet_length(message::text)) over (w rows between unbounded preceding and 1 preceding), 0)
                as bytes_before
            from fresh window w as (partition by source order by id)
          ) as numbered
          group by source, n / ${RECEIVED_PER_BATCH}, bytes_before / ${RECEIVED_BATCH_BYTES}
          union all
          ${rowsMessagesSql(sql, sql`(select log_row as row_json, traceparent from fresh) as accepted`, {
            service: eventLog.service,
            perMessage: ACCEPTED_PER_ENVELOPE,
            traced,
          })}`,
      )})
      select event_id from new_keys`
    return new Set(rows.map((r) => r.event_id))
  }

  async function readExisting(candidates: AcceptItem[]) {
    return sql<
      { source: string; dedupe_key: string; event_id: string; received_at: Date; status: WebhookStatus | null }[]
    >`
      select k.source, k.dedupe_key, k.event_id, k.received_at, e.status
      from dedupe_keys k
      left join events e on e.received_at = k.received_at and e.id = k.event_id
      where (k.source, k.dedupe_key) in (
        select * from unnest(${candidates.map((c) => c.source)}::text[], ${candidates.map((c) => c.dedupeKey)}::text[])
      )`
  }

  return async function acceptBatch(items: AcceptItem[]): Promise<AcceptResult[]> {
    const receivedAt = new Date()
    const unique = new Map<string, AcceptItem & { id: string }>()
    for (const item of items) {
      const key = keyOf(item.source, item.dedupeKey)
      if (!unique.has(key)) unique.set(key, { ...item, id: randomUUID() })
    }
    const candidates = [...unique.values()]
    const isNew = await insertNew(candidates, receivedAt)

    const results = new Map<string, AcceptResult>()
    for (const c of candidates) {
      if (!isNew.has(c.id)) continue
      const result = { id: c.id, source: c.source, eventId: c.dedupeKey, receivedAt, replayed: false }
      results.set(keyOf(c.source, c.dedupeKey), { ...result, status: 'queued' })
    }
    const existing = candidates.filter((c) => !isNew.has(c.id))
    if (existing.length > 0) {
      for (const r of await readExisting(existing)) {
        results.set(keyOf(r.source, r.dedupe_key), {
          id: r.event_id,
          source: r.source,
          eventId: r.dedupe_key,
          status: r.status ?? 'expired',
          receivedAt: r.received_at,
          replayed: true,
        })
      }
    }

    // Later copies of a key within this batch are duplicates of the first one.
    const seen = new Set<string>()
    return items.map((item) => {
      const key = keyOf(item.source, item.dedupeKey)
      const result = results.get(key)
      if (!result) throw new Error('a key of the batch was neither inserted nor found')
      const replayed = result.replayed || seen.has(key)
      seen.add(key)
      return { ...result, replayed }
    })
  }
}
