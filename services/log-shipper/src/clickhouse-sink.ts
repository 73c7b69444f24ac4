import { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import type { ClickHouseClient } from '@clickhouse/client'
import { ATTR, endSpan, insideSpan, type Span, SpanKind, startSpan } from '@platform/tracing'
import { assertClickHouseIdentifier, clickhouseErrorCode, DATA_ERROR_CODES } from './clickhouse-client.js'
import { LogShipperError } from './errors.js'
import { EVENT_LOG_INSERT_COLUMNS, type EventSink, type SinkBatch } from './sink.js'

/**
 * The ClickHouse sink: one INSERT ... FORMAT JSONEachRow per batch over HTTP, naming its columns. Naming them
 * matters on 18.16: there JSONEachRow fills an omitted column with its type's zero value, not its DEFAULT
 * expression, unless the column list of the INSERT leaves it out (it does here).
 *
 * The body is the batch's JSONEachRow text as bytes (rows messages' rows as they came, other rows serialised once),
 * streamed with client.exec: client.insert would JSON.stringify every row object itself, and takes no pre-serialised
 * JSONEachRow. A plain synchronous insert: when it returns, the rows are stored and visible (no async_insert, which
 * 18.16 lacks). The trace columns are named too: a row without them gets '', their zero value and their DEFAULT.
 *
 * Tracing on: each insert is a client span, inside the batch's leader span (packages/messaging bulk-consumer.ts).
 */
export function createClickHouseSink(client: ClickHouseClient, options: { table?: string } = {}): EventSink {
  const table = assertClickHouseIdentifier(options.table ?? 'event_log')
  const query = `INSERT INTO ${table} (${EVENT_LOG_INSERT_COLUMNS.join(', ')}) FORMAT JSONEachRow`
  return {
    async insert(batch: SinkBatch) {
      if (batch.count === 0) return
      const span = insideSpan() ? insertSpan(table, batch.count) : undefined
      try {
        const { stream } = await client.exec({
          query,
          values: Readable.from([batch.jsonEachRow()], { objectMode: false }),
          // Reads "2024-05-01 10:00:00" and ISO 8601 with an offset alike (the contract allows both).
          clickhouse_settings: { date_time_input_format: 'best_effort' },
        })
        // An INSERT answers with an empty body; reading it to the end frees the socket for the next request.
        stream.resume()
        await finished(stream)
        span?.end()
      } catch (cause) {
        if (span) endSpan(span, cause)
        const code = clickhouseErrorCode(cause)
        const message = String((cause as Error)?.message ?? cause).trim()
        if (code !== undefined && DATA_ERROR_CODES.has(code)) {
          throw new LogShipperError('LOGSHIP_ROWS_REJECTED', `ClickHouse rejected the rows: ${message}`, { cause })
        }
        throw new LogShipperError('LOGSHIP_SINK_UNAVAILABLE', `ClickHouse insert failed: ${message}`, { cause })
      }
    },
    async ping() {
      const result = await client.ping()
      return result.success
    },
  }
}

function insertSpan(table: string, rows: number): Span {
  return startSpan('@services/log-shipper', `INSERT ${table}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR.dbSystem]: 'clickhouse',
      [ATTR.dbOperation]: 'INSERT',
      'db.collection.name': table,
      'db.operation.batch.size': rows,
    },
  })
}
