import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client'

/**
 * The ClickHouse HTTP client (https://clickhouse.com/docs/integrations/javascript) as the shipper uses it. Only
 * features ClickHouse 18.16 has over HTTP: no query parameters (values are checked, not bound), no session
 * settings beyond the insert's own.
 */
export interface ClickHouseOptions {
  url: string
  database: string
  /** An insert that takes longer counts as failed and is retried; ClickHouse may still apply it (dedupe). */
  requestTimeoutMs?: number
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export function assertClickHouseIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid ClickHouse identifier: ${JSON.stringify(name)}`)
  return name
}

export function createClickHouseClient(options: ClickHouseOptions): ClickHouseClient {
  return createClient({
    url: options.url,
    database: assertClickHouseIdentifier(options.database),
    request_timeout: options.requestTimeoutMs ?? 30_000,
    // Errors reach our logs with context; the client's own logger would print each one again with a stack.
    log: { level: ClickHouseLogLevel.OFF },
  })
}

/** CREATE DATABASE IF NOT EXISTS through a client without a default database (the one to create). */
export async function ensureClickHouseDatabase(url: string, database: string): Promise<void> {
  const admin = createClient({ url, log: { level: ClickHouseLogLevel.OFF } })
  try {
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${assertClickHouseIdentifier(database)}` })
  } finally {
    await admin.close()
  }
}

/**
 * The server's error code ("Code: 41, e.displayText() = ..." on 18.16, "Code: 41. DB::Exception: ..." on current
 * releases), or undefined when the error did not come from the server (connection refused, reset, timeout).
 */
export function clickhouseErrorCode(error: unknown): number | undefined {
  const fromClient = Number((error as { code?: unknown })?.code)
  if (Number.isInteger(fromClient) && fromClient > 0) return fromClient
  const match = /^Code: (\d+)[.,]/.exec(String((error as Error)?.message ?? ''))
  return match ? Number(match[1]) : undefined
}

/**
 * Error codes that mean "this data cannot be stored" rather than "the server cannot take it now": parse and
 * conversion failures of a value (https://github.com/ClickHouse/ClickHouse/blob/master/src/Common/ErrorCodes.cpp).
 * A batch failing with one of these is bisected to find the row; anything else is retried as a whole.
 */
export const DATA_ERROR_CODES: ReadonlySet<number> = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE (e.g. a lone UTF-16 surrogate)
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE (e.g. a value longer than a FixedString)
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  691, // UNKNOWN_ELEMENT_OF_ENUM
])
