import type { ClickHouseClient } from '@clickhouse/client'
import { assertClickHouseIdentifier, clickhouseErrorCode, DATA_ERROR_CODES } from './clickhouse-client.js'
import { LogShipperError } from './errors.js'
import { EVENT_LOG_COLUMNS, type EventLogRow, type EventSink } from './sink.js'

/**
 * The ClickHouse sink: one INSERT ... FORMAT JSONEachRow per batch over HTTP, naming its columns. Naming them
 * matters on 18.16: there JSONEachRow fills an omitted column with its type's zero value, not its DEFAULT
 * expression, unless the column list of the INSERT leaves it out (it does here).
 *
 * A plain synchronous insert: when it returns, the rows are stored and visible (no async_insert, which 18.16 lacks).
 */
export function createClickHouseSink(client: ClickHouseClient, options: { table?: string } = {}): EventSink {
  const table = assertClickHouseIdentifier(options.table ?? 'event_log')
  return {
    async insert(rows: EventLogRow[]) {
      if (rows.length === 0) return
      try {
        await client.insert({
          table,
          values: rows,
          format: 'JSONEachRow',
          columns: [...EVENT_LOG_COLUMNS],
          // Reads "2024-05-01 10:00:00" and ISO 8601 with an offset alike (the contract allows both).
          clickhouse_settings: { date_time_input_format: 'best_effort' },
        })
      } catch (cause) {
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
