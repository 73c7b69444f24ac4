import { describe, expect, it } from 'vitest'
import { loadServiceConfig } from '../src/config.js'

describe('configuration', () => {
  it('defaults to the documented limits and database', () => {
    const config = loadServiceConfig({})
    expect(config).toMatchObject({
      PORT: 3005,
      DB_SCHEMA: 'log_shipper',
      CLICKHOUSE_DATABASE: 'platform',
      LOG_SHIPPER_BATCH_ROWS: 10_000,
      LOG_SHIPPER_BATCH_WAIT_MS: 1_000,
      LOG_SHIPPER_BATCH_BYTES: 16 * 1024 * 1024,
      LOG_SHIPPER_PREFETCH: 20_000,
    })
  })

  it('names a ClickHouse database that is not a plain identifier', () => {
    expect(() => loadServiceConfig({ CLICKHOUSE_DATABASE: 'x; DROP TABLE y' })).toThrow(/CLICKHOUSE_DATABASE/)
  })
})
