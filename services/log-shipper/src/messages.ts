import {
  EVENT_COUNT_HEADER,
  EVENTS_PER_ENVELOPE,
  type EventLoggedV1,
  EventLogMessageV1,
  EventLogRowsV1,
  EventLogRowV1,
  eventLogRows,
  eventsOf,
  ROWS_PREFIX,
  ROWS_SUFFIX,
} from '@platform/contracts'
import { type BulkDecode, jsonDecode } from '@platform/messaging'
import { Compile } from 'typebox/compile'
import { type EventLogRow, parseRows } from './sink.js'

/**
 * A message of the shipper's queue as the shipper holds it:
 *   rows    eventLogRows, what every envelope of events is now (recordMany, and ingest's group commit through
 *           rowsMessagesSql): the JSONEachRow bytes between ROWS_PREFIX and ROWS_SUFFIX, not parsed; `count` from
 *           the EVENT_COUNT_HEADER header;
 *   events  eventLogged, one event (record(), and every claim-checked event: its row needs the context from
 *           PostgreSQL): parsed and validated.
 *           Also the legacy eventLogBatch envelope, which no producer writes any more (ingest wrote it in SQL until it
 *           wrote rows messages). Still read because messages of it can be in flight across the upgrade: written by
 *           an ingest of the previous release before its last instance stopped, waiting in the queue or in the DLQ
 *           for an operator to move them back. TODO(remove eventlog.batch.v1): drop it, EventLogBatchV1 and
 *           eventsOf once a release has run with no eventlog.batch.v1 left in log-shipper.eventlog and its DLQ
 *           (docs/eventlog.md, "Message kinds").
 */
export type ShipperMessage = { kind: 'events'; events: EventLoggedV1[] } | { kind: 'rows'; json: Buffer; count: number }

const prefix = Buffer.from(ROWS_PREFIX)
const suffix = Buffer.from(ROWS_SUFFIX)
const events = jsonDecode<EventLogMessageV1>(EventLogMessageV1)
const rowsBody = jsonDecode<EventLogRowsV1>(EventLogRowsV1)

/** The rows message's JSONEachRow bytes, or an error saying why it is not one (it is then dead-lettered). */
function rowsOf(content: Buffer, headers: Record<string, unknown>): ShipperMessage {
  const end = content.length - suffix.length
  if (
    end <= prefix.length ||
    !content.subarray(0, prefix.length).equals(prefix) ||
    !content.subarray(end).equals(suffix)
  ) {
    throw new Error(`rows message body is not ${ROWS_PREFIX}<rows>${ROWS_SUFFIX}`)
  }
  const json = content.subarray(prefix.length, end)
  const count = Number(headers[EVENT_COUNT_HEADER])
  if (Number.isInteger(count) && count >= 1 && count <= EVENTS_PER_ENVELOPE) return { kind: 'rows', json, count }
  // No usable count (a message published by hand): parse it once, which also checks it.
  return { kind: 'rows', json, count: rowsBody(content).rows.length }
}

/** The shipper's decode (startBulkConsumer): rows messages by their AMQP type, the other kinds by JSON and schema. */
export const decodeMessage: BulkDecode<ShipperMessage> = (content, { type, headers }) =>
  type === eventLogRows.type ? rowsOf(content, headers) : { kind: 'events', events: eventsOf(events(content)) }

export const rowsIn = (body: ShipperMessage): number => (body.kind === 'rows' ? body.count : body.events.length)

const validRow = Compile(EventLogRowV1)

/**
 * The rows of a rows message, parsed and checked: only when ClickHouse rejected it, to find the rejected rows.
 * Throws when they are not valid JSON or break the row schema (the message is then dead-lettered whole).
 */
export function parsedRows(json: Buffer): EventLogRow[] {
  let rows: unknown[]
  try {
    rows = parseRows(json)
  } catch (error) {
    throw new Error(`rows message body is not valid JSON: ${(error as Error).message}`)
  }
  rows.forEach((row, i) => {
    if (!validRow.Check(row)) {
      const [first] = validRow.Errors(row)
      throw new Error(`row ${i} of the rows message breaks its schema: ${first?.instancePath || '/'} ${first?.message}`)
    }
  })
  return rows as EventLogRow[]
}
