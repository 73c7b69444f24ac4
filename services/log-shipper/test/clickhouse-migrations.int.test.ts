/**
 * The shipper's ClickHouse migrations on the real server (18.16 here): applied once, refused when changed, safe
 * when two shippers start together; and a column added later is filled by its DEFAULT while the shipper keeps
 * inserting exactly what it did before (producers never change for a new column).
 */
import { createTestClickHouseDatabase, type TestClickHouse } from '@platform/eventlog/testing'
import { createTestSchema, type TestSchema, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  clickhouseMigrationsDir,
  loadClickHouseMigrations,
  migrateClickHouse,
  parseClickHouseMigration,
} from '../src/clickhouse-migrations.js'
import { createClickHouseSink } from '../src/clickhouse-sink.js'
import { rowsBatch, sinkBatch } from '../src/sink.js'

let ch: TestClickHouse
let db: TestSchema

beforeAll(async () => {
  ;[ch, db] = await Promise.all([createTestClickHouseDatabase('chmig'), createTestSchema('chmig')])
})

afterAll(async () => {
  await ch?.drop()
  await db?.drop()
})

const run = async (migrations: Awaited<ReturnType<typeof loadClickHouseMigrations>>) =>
  migrateClickHouse({ client: ch.client, sql: db.sql, database: ch.database, migrations })

async function query<T>(sql: string): Promise<T[]> {
  return (await ch.client.query({ query: sql, format: 'JSONEachRow' })).json<T>()
}

const row = (id: string) => ({
  event_id: id,
  service: 'crm',
  event_type: 'contact.created',
  event_date_time: '2024-05-01 10:00:00',
  environment: 'test',
  event_context: '{}',
  metadata_version: 1,
})

describe('ClickHouse migrations', () => {
  it('creates the event log and its deduplicating view once, even with two shippers starting together', async () => {
    const migrations = await loadClickHouseMigrations(clickhouseMigrationsDir)
    const [first, second] = await Promise.all([run(migrations), run(migrations)])
    expect([...first, ...second]).toEqual(['0001_event_log', '0002_trace_context'])
    expect(await run(migrations)).toEqual([])
    const tables = await query<{ name: string; engine: string }>(
      `SELECT name, engine FROM system.tables WHERE database = '${ch.database}' ORDER BY name`,
    )
    expect(tables).toEqual([
      { name: 'event_log', engine: 'ReplacingMergeTree' },
      { name: 'event_log_dedup', engine: 'View' },
      { name: 'schema_migrations', engine: 'MergeTree' },
    ])
    expect(await query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id')).toEqual([
      { id: '0001_event_log' },
      { id: '0002_trace_context' },
    ])
  })

  it('stores the trace ids of rows that have them and an empty string for rows without, and runs again when half-applied', async () => {
    const sink = createClickHouseSink(ch.client)
    const traced = {
      ...row('00000000-0000-4000-8000-0000000000a1'),
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
    }
    const plain = row('00000000-0000-4000-8000-0000000000a2')
    // A row object and a rows message's JSON text of each kind.
    await sink.insert(sinkBatch([{ row: traced }, { json: Buffer.from(JSON.stringify(plain)), count: 1 }]))
    const stored = await query<{ id: string; trace_id: string; span_id: string }>(
      `SELECT toString(event_id) AS id, trace_id, span_id FROM event_log_dedup
       WHERE event_id IN ('${traced.event_id}', '${plain.event_id}') ORDER BY id`,
    )
    expect(stored).toEqual([
      { id: traced.event_id, trace_id: traced.trace_id, span_id: traced.span_id },
      { id: plain.event_id, trace_id: '', span_id: '' },
    ])
    // A run that added the columns and failed before recording itself (18.16 has no ADD COLUMN IF NOT EXISTS): the
    // next start applies it again from its first statement, and the existing columns count as added.
    await ch.client.command({ query: `ALTER TABLE schema_migrations DELETE WHERE id = '0002_trace_context'` })
    await waitFor(async () => (await query('SELECT id FROM schema_migrations')).length === 1)
    expect(await run(await loadClickHouseMigrations(clickhouseMigrationsDir))).toEqual(['0002_trace_context'])
  })

  it('refuses to start when an applied migration was changed', async () => {
    const [original] = await loadClickHouseMigrations(clickhouseMigrationsDir)
    const changed = parseClickHouseMigration('0001_event_log', `${original?.statements.join(';\n')};\n-- edited\n`)
    await expect(run([changed])).rejects.toMatchObject({ code: 'LOGSHIP_MIGRATION_CHANGED' })
  })

  it('adds a column with a default later: the shipper inserts as before, the reads show the default', async () => {
    const sink = createClickHouseSink(ch.client)
    await sink.insert(rowsBatch([row('00000000-0000-4000-8000-000000000001')]))
    const migrations = [
      ...(await loadClickHouseMigrations(clickhouseMigrationsDir)),
      parseClickHouseMigration(
        '0002_region',
        `ALTER TABLE event_log ADD COLUMN region String DEFAULT 'eu-west';
         DROP TABLE IF EXISTS event_log_dedup;
         CREATE VIEW event_log_dedup AS
         SELECT event_id, service, event_type, event_date_time, environment, event_context, metadata_version,
                inserted_at, region
         FROM event_log FINAL;`,
      ),
    ]
    expect(await run(migrations)).toEqual(['0002_region'])
    // As a row object and as a rows message's JSON text: both get the new column's DEFAULT.
    const second = row('00000000-0000-4000-8000-000000000002')
    await sink.insert(sinkBatch([{ row: second }, { json: Buffer.from(JSON.stringify(second)), count: 1 }]))
    const rows = await query<{ id: string; region: string; inserted: number }>(
      `SELECT toString(event_id) AS id, region, toUnixTimestamp(inserted_at) > 0 AS inserted
       FROM event_log_dedup
       WHERE event_id IN ('00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002')
       ORDER BY id`,
    )
    expect(rows).toEqual([
      { id: '00000000-0000-4000-8000-000000000001', region: 'eu-west', inserted: 1 },
      { id: '00000000-0000-4000-8000-000000000002', region: 'eu-west', inserted: 1 },
    ])
  })
})
