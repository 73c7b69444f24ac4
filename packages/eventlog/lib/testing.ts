/**
 * Test helpers for code that records events (import from "@platform/eventlog/testing", tests only): a ClickHouse
 * database of the test file's own, and waiting until recorded events are visible in it through the
 * deduplicating read the log-shipper documents (FINAL on the ReplacingMergeTree, docs/eventlog.md).
 * The log-shipper creates the tables in that database (its CLICKHOUSE_DATABASE) when it starts.
 */
import { randomBytes } from 'node:crypto'
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client'
import type { Sql } from '@platform/db'
import { waitFor } from '@platform/testing'
import type { EventLog, EventLogEntry } from './event-log.js'
import type { EventLogRow } from './row.js'

/** A row as a query returns it: UInt64 comes back as a string in JSON (it may exceed 2^53). */
export type StoredEventLogRow = Omit<EventLogRow, 'metadata_version'> & { metadata_version: string }

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** ClickHouse 18.16 has no query parameters over HTTP, so names and ids are checked rather than escaped. */
function checked(database: string, eventIds: string[]): string {
  if (!IDENTIFIER.test(database)) throw new Error(`invalid ClickHouse database name: ${JSON.stringify(database)}`)
  for (const id of eventIds) if (!UUID.test(id)) throw new Error(`not an event id: ${JSON.stringify(id)}`)
  return database
}

export interface TestClickHouse {
  database: string
  /** A client whose default database is `database`. */
  client: ClickHouseClient
  drop(): Promise<void>
}

/** A ClickHouse database of the test file's own (test files run in parallel against one server). */
export async function createTestClickHouseDatabase(
  prefix = 't',
  url = process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
): Promise<TestClickHouse> {
  const database = checked(`${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`, [])
  const admin = createClient({ url, log: { level: ClickHouseLogLevel.OFF } })
  await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
  const client = createClient({ url, database, log: { level: ClickHouseLogLevel.OFF } })
  return {
    database,
    client,
    async drop() {
      await client.close()
      await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` })
      await admin.close()
    },
  }
}

/** The deduplicated rows of these events (a redelivered event is one row here even before a merge). */
export async function eventsInClickHouse(
  client: ClickHouseClient,
  database: string,
  eventIds: string[],
): Promise<StoredEventLogRow[]> {
  if (eventIds.length === 0) return []
  const ids = eventIds.map((id) => `'${id}'`).join(',')
  const result = await client.query({
    query: `SELECT toString(event_id) AS event_id, service, event_type, toString(event_date_time) AS event_date_time,
              environment, event_context, metadata_version
            FROM ${checked(database, eventIds)}.event_log FINAL
            WHERE event_id IN (${ids})`,
    format: 'JSONEachRow',
  })
  return result.json<StoredEventLogRow>()
}

/** Waits until the event is in ClickHouse and returns its row. */
export async function waitForEventInClickHouse(
  client: ClickHouseClient,
  database: string,
  eventId: string,
  options: { timeoutMs?: number } = {},
): Promise<StoredEventLogRow> {
  const [row] = await waitForEventsInClickHouse(client, database, [eventId], options)
  return row as StoredEventLogRow
}

/** Waits until every one of the events is in ClickHouse; returns their rows. */
export async function waitForEventsInClickHouse(
  client: ClickHouseClient,
  database: string,
  eventIds: string[],
  options: { timeoutMs?: number } = {},
): Promise<StoredEventLogRow[]> {
  return waitFor(
    async () => {
      const rows = await eventsInClickHouse(client, database, eventIds)
      return rows.length >= new Set(eventIds).size ? rows : undefined
    },
    { timeoutMs: options.timeoutMs ?? 15_000, intervalMs: 100, message: `${eventIds.length} event(s) in ClickHouse` },
  )
}

/** Runs fn over [0, total) in slices of `size`, `workers` slices at a time, in order of slices taken. */
export async function inSlices(
  total: number,
  size: number,
  workers: number,
  fn: (from: number, to: number) => Promise<void>,
): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < total) {
        const from = next
        next = Math.min(from + size, total)
        await fn(from, next)
      }
    }),
  )
}

export interface RecordConcurrentlyOptions {
  count: number
  entry: (i: number) => EventLogEntry
  /** Concurrent writers (default 1), each committing transactions of `perTx` events (default 1). */
  producers?: number
  perTx?: number
  /** record() per event (one message each) instead of recordMany (envelopes). */
  oneByOne?: boolean
  /** Called after each commit with the transaction's event ids. */
  onCommit?: (ids: string[]) => void
}

/** Producers for tests and benchmarks: records events in real transactions; returns every event id. */
export async function recordConcurrently(sql: Sql, eventLog: EventLog, options: RecordConcurrentlyOptions) {
  const ids: string[] = []
  await inSlices(options.count, options.perTx ?? 1, options.producers ?? 1, async (from, to) => {
    const entries = Array.from({ length: to - from }, (_, k) => options.entry(from + k))
    const committed = await sql.begin(async (tx) => {
      if (!options.oneByOne) return eventLog.recordMany(tx, entries)
      const one: string[] = []
      for (const entry of entries) one.push(await eventLog.record(tx, entry))
      return one
    })
    options.onCommit?.(committed)
    ids.push(...committed)
  })
  return ids
}
