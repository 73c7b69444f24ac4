import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPartitions } from '../src/events/partitions.js'
import { type AnalyticsHarness, event, startAnalytics } from './harness.js'

/** The monthly partitions: made for every month an event may arrive for, and ahead; old ones detached. */
let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics()
})
afterAll(async () => {
  await h?.close()
})

const monthsOf = (names: { month: string }[]) => names.map((p) => p.month)
const month = (date: Date, add: number) =>
  new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + add, 1)).toISOString().slice(0, 7)

describe('event partitions', () => {
  const partitions = () =>
    createPartitions({
      sql: h.env.schema.sql,
      schema: h.env.schema.schema,
      logger: h.app.log,
      maxEventAgeDays: 90,
      lookaheadMonths: 2,
      retentionMonths: 6,
    })

  it('exist at start for the 90 days an event may be late and two months ahead', async () => {
    const now = new Date()
    const months = monthsOf(await partitions().partitions())
    const from = new Date(now.getTime() - 91 * 86_400_000)
    for (let m = month(from, 0); m <= month(now, 2); m = month(new Date(`${m}-01T00:00:00Z`), 1)) {
      expect(months).toContain(m)
    }
  })

  it('detach months past retention, keep the rollups, and are not made again for them', async () => {
    // An event 60 days ago: inside the accepted window; its month is the one to detach.
    const time = new Date(Date.now() - 60 * 86_400_000)
    const day = time.toISOString().slice(0, 10)
    const oldest = day.slice(0, 7)
    expect((await h.post([event('old', time.toISOString())])).statusCode).toBe(200)

    // Seven months later, a retention of six months detaches that month.
    const later = new Date(`${month(time, 7)}-15T00:00:00Z`)
    const job = partitions()
    const report = await job.runOnce(later)
    expect(report.detached).toContain(`events_p${oldest.replace('-', '')}`)
    expect(monthsOf(await job.partitions())).not.toContain(oldest)
    const [detached] = await h.env.schema.sql`select to_regclass(${`detached_events_p${oldest.replace('-', '')}`}) as t`
    expect(detached?.t).not.toBeNull()
    expect(await h.dau(day, day)).toEqual([{ day, users: 1 }])
    // A later run does not make the month's partition again.
    await job.runOnce(later)
    expect(monthsOf(await job.partitions())).not.toContain(oldest)
  })

  it('are made on demand for a month ingestion had not seen', async () => {
    const job = partitions()
    const future = new Date(Date.UTC(new Date().getUTCFullYear() + 3, 0, 15))
    await job.ensureMonths([future])
    expect(monthsOf(await job.partitions())).toContain(future.toISOString().slice(0, 7))
  })
})
