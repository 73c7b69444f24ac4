/**
 * The shipper as a real process, SIGKILLed after ClickHouse accepted a batch and before the acks, then restarted:
 * nothing is lost, and the batch written twice shows up once in (deduplicated) query results.
 */
import { logShipperConsumer } from '@platform/contracts'
import { type RunningProcess, rabbitAdmin, startTsProcess, testUrls, waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHarness, type Harness } from './helpers.js'

let h: Harness
const processes: RunningProcess[] = []
const fixture = new URL('./fixtures/shipper-process.ts', import.meta.url).pathname
const serverEntry = new URL('../src/server.ts', import.meta.url).pathname

beforeAll(async () => {
  h = await createHarness('crash', { claimCheckThresholdBytes: 1024 })
})

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')))
  await h?.close()
})

const baseEnv = () => ({
  DATABASE_URL: testUrls().databaseUrl,
  DB_SCHEMA: h.shipperDb.schema,
  AMQP_URL: h.vhost.amqpUrl,
  CLICKHOUSE_URL: testUrls().clickhouseUrl,
  CLICKHOUSE_DATABASE: h.ch.database,
})

function start(file: string, env: Record<string, string>) {
  const child = startTsProcess(file, { ...baseEnv(), ...env })
  processes.push(child)
  return child
}

const insertedRows = (output: string) =>
  [...output.matchAll(/inserted (\d+) rows/g)].reduce((sum, m) => sum + Number(m[1]), 0)

/** Reads a counter from the service's /metrics. */
async function scrape(url: string, metric: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `))
  return Number(line?.split(' ').at(-1) ?? 0)
}

describe('log-shipper killed mid-batch', () => {
  it('redelivers the unacked batch to the restarted shipper: no loss, no duplicate rows in query results', async () => {
    // 20,000 events (a few with large contexts, by claim check) wait in the queue before any shipper runs.
    const declared = await h.startShipper()
    await declared.close()
    // Half as envelopes (recordMany), half one message per event (record()).
    const entry = (i: number) => ({
      eventType: 'crash.recorded',
      context: i % 5000 === 1 ? { i, pad: 'p'.repeat(5000) } : { i },
    })
    const ids = [
      ...(await h.record(10_000, entry, { producers: 4, perTx: 500 })),
      ...(await h.record(10_000, (i) => entry(10_000 + i), { producers: 4, perTx: 500, oneByOne: true })),
    ]
    await h.relay().drain()

    const dying = start(fixture, { DIE_AFTER_INSERTS: '1', BATCH_ROWS: '5000', BATCH_WAIT_MS: '5000' })
    await dying.waitForOutput(/dying before the acks/, 30_000)
    expect(await dying.exited).toBe('SIGKILL')
    const firstBatch = insertedRows(dying.output())
    expect(firstBatch).toBeGreaterThan(0)
    // The batch is in ClickHouse and still in RabbitMQ (unacked when the process died, so requeued).
    expect((await h.counts('crash.recorded')).raw).toBe(firstBatch)

    // The restart is the real service (src/server.ts), configured by environment like in production.
    const restarted = start(serverEntry, { PORT: '0', LOG_LEVEL: 'info', LOG_SHIPPER_BATCH_ROWS: '5000' })
    await restarted.waitForOutput(/listening on http:\/\/[\d.:]+/, 30_000)
    const url = /listening on (http:\/\/[\d.:]+)/.exec(restarted.output())?.[1] as string
    await waitFor(async () => (await h.counts('crash.recorded')).rows === 20_000, {
      timeoutMs: 40_000,
      intervalMs: 250,
      message: 'all 20,000 events in ClickHouse after the restart',
    })
    // The restarted shipper wrote all 20,000, the first batch included: those rows were stored twice...
    await waitFor(async () => (await scrape(url, 'log_shipper_rows_inserted_total')) === 20_000)
    // ...and query results hold each event once.
    expect(await h.counts('crash.recorded')).toMatchObject({ rows: 20_000, distinct: 20_000 })
    const result = await h.ch.client.query({
      query: `SELECT toString(event_id) FROM event_log_dedup WHERE event_type = 'crash.recorded'`,
      format: 'TabSeparated',
    })
    const stored = (await result.text()).trim().split('\n')
    expect(stored).toHaveLength(20_000)
    expect(new Set(stored)).toEqual(new Set(ids))
    // Claim-checked payloads were cleaned up once shipped.
    const [left] = await h.shipperDb.sql`
      select count(*)::int as n from eventlog_claims.payloads where id = any(${ids}::uuid[])`
    expect(left?.n).toBe(0)

    expect(await restarted.kill('SIGTERM')).toBe(0)
    expect(await rabbitAdmin().getMessages(h.vhost.vhost, logShipperConsumer.queue, 1)).toEqual([])
  })
})
