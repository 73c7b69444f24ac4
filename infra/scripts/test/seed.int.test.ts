import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type IngestHarness, startIngest } from '../../../services/ingest/test/harness.js'
import { type SeedProgress, seedWebhooks } from '../seed.js'

/**
 * `npm run seed` against a real ingest: the app as buildApp makes it, in this process, listening on a free port, with
 * the development sources file the seeder signs with (infra/webhook-sources.json), in a schema, vhost and Redis
 * prefix of its own. What the seeder reports accepted must be stored, from every source of the file.
 */
const SOURCES_FILE = fileURLToPath(new URL('../../webhook-sources.json', import.meta.url))

let h: IngestHarness
let url: string

beforeAll(async () => {
  h = await startIngest({ WEBHOOK_SOURCES_FILE: SOURCES_FILE })
  url = await h.app.listen({ host: '127.0.0.1', port: 0 })
})
afterAll(async () => {
  await h?.close()
})

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('seedWebhooks', () => {
  it('sends signed webhooks that ingest accepts and stores, spread over the sources file', async () => {
    const progress: SeedProgress[] = []
    const result = await seedWebhooks({
      url,
      count: 40,
      rate: 200,
      sourcesFile: SOURCES_FILE,
      onProgress: (p) => progress.push(p),
    })

    expect(result).toMatchObject({ sent: 40, accepted: 40, duplicates: 0, failed: 0 })
    expect(result.firstFailure).toBeUndefined()
    expect(result.bySource).toEqual({ payment: 20, orders: 20 })
    expect(progress).toHaveLength(40)
    expect(progress.at(-1)?.accepted).toBe(40)

    const rows = await h.env.schema.sql<{ source: string; event_type: string; n: number }[]>`
      select source, event_type, count(*)::int as n from events group by 1, 2 order by 1, 2`
    const stored = Object.fromEntries(rows.map((r) => [`${r.source} ${r.event_type}`, r.n]))
    expect(rows.reduce((sum, r) => sum + r.n, 0)).toBe(40)
    // The demo's mix: charges with some refunds and a dispute; order envelopes of three types.
    expect(stored['payment charge.succeeded']).toBeGreaterThan(10)
    expect(stored['payment refund.created']).toBeGreaterThan(0)
    expect(stored['payment dispute.opened']).toBe(1)
    expect(Object.keys(stored).filter((k) => k.startsWith('orders '))).toEqual([
      'orders order.created',
      'orders order.delivered',
      'orders order.shipped',
    ])
  })

  it('holds to the rate it is given', async () => {
    const started = performance.now()
    const result = await seedWebhooks({ url, count: 10, rate: 20, sourcesFile: SOURCES_FILE })
    expect(result.accepted).toBe(10)
    // The 10th request is due 450 ms after the first at 20/s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(440)
  })

  it('says ingest is not running, and how to start it, when nothing answers', async () => {
    const port = await closedPort()
    await expect(
      seedWebhooks({ url: `http://127.0.0.1:${port}`, count: 5, rate: 0, sourcesFile: SOURCES_FILE }),
    ).rejects.toThrow(/ingest does not answer at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\).*npm start/)
  })

  it('counts refusals as failed with the first problem, e.g. secrets ingest does not know', async () => {
    // The test harness's own sources file: the same source names; payment has other secrets (orders' second secret
    // is the development one, so those are accepted).
    const other = await startIngest()
    try {
      const otherUrl = await other.app.listen({ host: '127.0.0.1', port: 0 })
      const result = await seedWebhooks({ url: otherUrl, count: 4, rate: 0, sourcesFile: SOURCES_FILE })
      expect(result).toMatchObject({ sent: 4, accepted: 2, failed: 2 })
      expect(result.bySource).toEqual({ orders: 2 })
      expect(result.firstFailure).toMatch(/^payment: 401 \S+ The signature does not match the body\.$/)
    } finally {
      await other.close()
    }
  })
})
