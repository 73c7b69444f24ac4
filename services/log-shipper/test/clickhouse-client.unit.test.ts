import { describe, expect, it } from 'vitest'
import { clickhouseErrorCode, DATA_ERROR_CODES } from '../src/clickhouse-client.js'
import { parseClickHouseMigration } from '../src/clickhouse-migrations.js'

describe('ClickHouse error codes', () => {
  it('reads the code from 18.16 and from current server messages', () => {
    const old = new Error('Code: 41, e.displayText() = DB::Exception: Cannot read DateTime: unexpected word')
    const current = new Error(
      "Code: 27. DB::Exception: Cannot parse input: expected '\"' before: ... (CANNOT_PARSE_INPUT_ASSERTION_FAILED)",
    )
    expect(clickhouseErrorCode(old)).toBe(41)
    expect(clickhouseErrorCode(current)).toBe(27)
    expect(DATA_ERROR_CODES.has(41) && DATA_ERROR_CODES.has(27)).toBe(true)
  })

  it('has no code for errors that never reached the server', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' })
    expect(clickhouseErrorCode(refused)).toBeUndefined()
    expect(clickhouseErrorCode(new Error('Timeout error.'))).toBeUndefined()
  })

  it('treats a missing table or memory pressure as the server not taking data now, not as bad rows', () => {
    for (const code of [60, 81, 241, 252, 159, 202]) expect(DATA_ERROR_CODES.has(code)).toBe(false)
  })
})

describe('ClickHouse migration files', () => {
  it('split into statements at semicolons that end a line, without comment lines', () => {
    const migration = parseClickHouseMigration(
      '0002_region',
      `-- adds a column; producers do not change\nALTER TABLE event_log ADD COLUMN region String DEFAULT 'eu';\n\n-- the view lists columns\nDROP TABLE IF EXISTS event_log_dedup;\nCREATE VIEW event_log_dedup AS SELECT 'a;b' AS x FROM event_log FINAL;\n`,
    )
    expect(migration.statements).toEqual([
      "ALTER TABLE event_log ADD COLUMN region String DEFAULT 'eu'",
      'DROP TABLE IF EXISTS event_log_dedup',
      "CREATE VIEW event_log_dedup AS SELECT 'a;b' AS x FROM event_log FINAL",
    ])
    expect(migration.checksum).toMatch(/^[0-9a-f]{64}$/)
  })
})
