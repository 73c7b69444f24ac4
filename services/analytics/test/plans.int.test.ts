import type { Sql } from '@platform/db'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type QueryDef, rawQueries, rollupQueries } from '../src/queries/sql.js'
import { rebuildRollups } from '../src/rollup/rebuild.js'
import { type AnalyticsHarness, addDays, dayFromToday, startAnalytics } from './harness.js'

/**
 * The indexes (docs/analytics.md#indexes): EXPLAIN (FORMAT JSON) of every query the API runs and of every raw
 * reference query (sql.ts, the texts the repository runs) must not read `events`, any of its partitions, or
 * `user_day` sequentially. On 300,000 events of 20,000 users over 60 days (and their ~250,000 user days), large
 * enough that without the indexes each of these plans is a sequential scan, which the last test shows by dropping
 * them inside a transaction it rolls back. daily_activity and daily_user_sketches have a row per day: reading them
 * whole is what they are for.
 */
const EVENTS = 300_000
const FIRST = dayFromToday(-60)
const LAST = dayFromToday(-1)
const D = dayFromToday(-20)
const LARGE = /^(events(_p\d{6})?|user_day)$/

interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  Plans?: PlanNode[]
}

/** The sequential scans of events, its partitions or user_day anywhere in the plan. */
function seqScans(plan: PlanNode): string[] {
  const own =
    plan['Node Type'] === 'Seq Scan' && LARGE.test(plan['Relation Name'] ?? '') ? [plan['Relation Name']!] : []
  return [...own, ...(plan.Plans ?? []).flatMap(seqScans)]
}

const cases: [QueryDef, unknown[]][] = [
  [rollupQueries.dau, [addDays(D, -29), D]],
  [rollupQueries.retention, [D]],
  [rollupQueries.returningUsers, [D, '', 1001]],
  [rollupQueries.returningUsers, [D, 'u-10000', 1001]],
  [rollupQueries.cohorts, [addDays(D, -13), D]],
  // A week. A month is half of this test's 60 days of user_day, which a sequential scan reads best; in a year of
  // history it is a twelfth, an index range as the week is here.
  [rollupQueries.activeUsers, [D, 7]],
  [rollupQueries.activeUserEstimates, [addDays(D, -29), D, 30]],
  [rawQueries.dau, [addDays(D, -29), D]],
  [rawQueries.retention, [D]],
  [rawQueries.returningUsers, [D]],
  [rawQueries.cohorts, [addDays(D, -13), D]],
  [rawQueries.activeUsers, [D, 7]],
]

/** Whether a query reads events or user_day (the others read a row per day: whole is what those tables are for). */
const readsLarge = (query: QueryDef) => /\b(from|join) (events|user_day)\b/.test(query.text)

/** The top node of an EXPLAIN (FORMAT JSON) answer. */
function topNode(rows: Record<string, unknown>[]): PlanNode {
  const explained = rows[0]?.['QUERY PLAN'] as { Plan: PlanNode }[] | undefined
  if (!explained?.[0]) throw new Error('EXPLAIN gave no plan')
  return explained[0].Plan
}

async function planOf(sql: Sql, query: QueryDef, params: unknown[]): Promise<PlanNode> {
  return topNode(await sql.unsafe(`explain (format json) ${query.text}`, params as never[]))
}

/** The plan a prepared statement gets once PostgreSQL switches it to a generic plan (postgres.js prepares the API's). */
async function genericPlanOf(sql: Sql, query: QueryDef, params: unknown[]): Promise<PlanNode> {
  const conn = await sql.reserve()
  try {
    await conn.unsafe(`prepare q as ${query.text}`)
    await conn`set plan_cache_mode = force_generic_plan`
    const literals = params.map((p) => (typeof p === 'number' ? String(p) : `'${String(p).replace(/'/g, "''")}'`))
    return topNode(await conn.unsafe(`explain (format json) execute q(${literals.join(', ')})`))
  } finally {
    await conn`deallocate all`.catch(() => {})
    await conn`reset plan_cache_mode`.catch(() => {})
    conn.release()
  }
}

let h: AnalyticsHarness
beforeAll(async () => {
  h = await startAnalytics()
  const { sql, schema } = h.env.schema
  await sql`set statement_timeout = 0`
  await sql`
    insert into events (event_id, user_id, kind, performed_at)
    select gen_random_uuid(), 'u-' || (random() * 20000)::int, 'login',
      (${FIRST}::date::timestamp at time zone 'UTC') + random() * (${LAST}::date - ${FIRST}::date + 1) * interval '1 day'
    from generate_series(1, ${EVENTS})`
  await rebuildRollups(sql, { schema, maxEventAgeDays: 90 }, FIRST, LAST)
  await sql`vacuum analyze events`.catch(async () => sql`analyze events`)
  await sql`analyze user_day`
  await sql`analyze daily_activity`
}, 180_000)
afterAll(async () => {
  await h?.close()
})

describe('query plans', () => {
  it.each(cases.map(([q, p]) => [q.name, q, p] as const))(
    '%s reads no large table whole',
    async (_name, query, params) => {
      expect(seqScans(await planOf(h.env.schema.sql, query, params))).toEqual([])
    },
  )

  it.each(
    cases.filter(([q]) => Object.values(rollupQueries).includes(q as never)).map(([q, p]) => [q.name, q, p] as const),
  )('%s reads no large table whole in its generic plan too', async (_name, query, params) => {
    expect(seqScans(await genericPlanOf(h.env.schema.sql, query, params))).toEqual([])
  })

  it('are sequential scans without the indexes: the data is large enough for the check to mean something', async () => {
    const found = await h.env.schema.sql
      .begin(async (tx) => {
        await tx`alter table events drop constraint events_pkey`
        await tx`drop index events_user_performed`
        await tx`alter table user_day drop constraint user_day_pkey`
        const scans: string[][] = []
        for (const [query, params] of cases) {
          if (!readsLarge(query)) continue
          scans.push(seqScans(await planOf(tx as unknown as Sql, query, params)))
        }
        throw Object.assign(new Error('rollback'), { scans })
      })
      .catch((error: { scans?: string[][] }) => error.scans)
    expect(found).toHaveLength(cases.filter(([q]) => readsLarge(q)).length)
    for (const scans of found ?? []) expect(scans.length).toBeGreaterThan(0)
  })
})
