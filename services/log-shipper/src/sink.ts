import type { EventLogRow } from '@platform/eventlog'

export { EVENT_LOG_COLUMNS, EVENT_LOG_INSERT_COLUMNS, type EventLogRow, toRow } from '@platform/eventlog'

/**
 * A piece of a batch: rows as JSONEachRow text exactly as a rows message carried them (no parse on the way), or
 * one row as an object (an event of a single-event message or an envelope of events, or a row taken out of a rows
 * message while isolating a rejected one).
 */
export type SinkPart = { json: Buffer; count: number } | { row: EventLogRow }

/** The rows of one insert, in the two shapes a store may want. */
export interface SinkBatch {
  readonly parts: readonly SinkPart[]
  /** Rows in the batch. */
  readonly count: number
  /**
   * The rows as JSONEachRow text, keys = EVENT_LOG_COLUMNS: rows separated by commas or newlines (ClickHouse 18.16
   * and current releases read both). Only the row objects are serialised; JSON parts are copied as they came.
   */
  jsonEachRow(): Buffer
  /** The rows as objects, for a store that needs them: JSON parts are parsed here (and only here). */
  rows(): EventLogRow[]
}

const NEWLINE = Buffer.from('\n')

/** Rows a part stands for. */
export const rowsOfPart = (part: SinkPart): number => ('row' in part ? 1 : part.count)

export function sinkBatch(parts: readonly SinkPart[]): SinkBatch {
  return {
    parts,
    count: parts.reduce((sum, p) => sum + rowsOfPart(p), 0),
    jsonEachRow() {
      const buffers: Buffer[] = []
      let texts: string[] = []
      const flushTexts = () => {
        if (texts.length > 0) buffers.push(Buffer.from(texts.join('\n')), NEWLINE)
        texts = []
      }
      for (const part of parts) {
        if ('row' in part) {
          texts.push(JSON.stringify(part.row))
        } else {
          flushTexts()
          buffers.push(part.json, NEWLINE)
        }
      }
      flushTexts()
      return Buffer.concat(buffers)
    },
    rows: () => parts.flatMap((p) => ('row' in p ? [p.row] : parseRows(p.json))),
  }
}

/** The rows of a JSON part (rows separated by commas, as a rows message carries them). Throws on invalid JSON. */
export function parseRows(json: Buffer): EventLogRow[] {
  return JSON.parse(`[${json.toString('utf8')}]`) as EventLogRow[]
}

/** A batch of row objects (the direct-insert baselines of loadtest/eventlog, tests). */
export const rowsBatch = (rows: EventLogRow[]): SinkBatch => sinkBatch(rows.map((row) => ({ row })))

/**
 * Where the shipper writes the event log. ClickHouse today (clickhouse-sink.ts); another database replaces it by
 * implementing these two methods (docs/adr/0006-clickhouse-dedup-and-portability.md), taking the batch as
 * JSONEachRow text or as row objects.
 */
export interface EventSink {
  /**
   * Writes every row of the batch or throws. Throw LogShipperError LOGSHIP_ROWS_REJECTED when the data itself was
   * refused (the shipper then bisects the batch to find the rows); any other error means "not now" and the whole
   * batch is retried later. The same rows may be written again (a redelivered batch): reads must deduplicate by
   * event_id, or the sink must ignore repeats.
   */
  insert(batch: SinkBatch): Promise<void>
  /** For readiness: true when the sink answers. */
  ping(): Promise<boolean>
}
