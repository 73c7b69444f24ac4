/**
 * Feed benchmark (issue 14 §5, docs/performance.md#feed): the feed's load scenarios on seeded data, each beside a
 * bare Fastify route answering a body of the same size, measured in the same run, in both load models: closed
 * (BENCH_CONNECTIONS connections, autocannon: saturation) and open (a fixed offered rate, latency from the intended
 * send time: no coordinated omission). Each run prints p50/p95/p99, RPS, error rate, the queue backlog after it and
 * the feed's cache hit ratio over it. Then the fan-out time of an author with about 10,000 followers (p99 over 20
 * posts) and the worker's entries/s beside a direct bulk insert; and the hot buckets' rebuild from likes (likes/s)
 * beside reading the same likes alone. What is not built yet is said, not measured.
 *
 *   node --import tsx loadtest/feed/bench.ts
 *     BENCH_USERS=100000        seeded users (npm run seed:feed -- --users; the other sizes are its defaults)
 *     BENCH_SCHEMA=<name>       seed into / reuse this schema and keep it (default: a new one, dropped at the end)
 *     BENCH_SECONDS=10          per run; BENCH_CONNECTIONS=64 (closed model)
 *     FEED_RATE=2000 HOT_RATE=2000 POST_RATE=200 LIKE_RATE=200 MIXED_RATE=1000   offered rates (open model;
 *                               a comma list, e.g. FEED_RATE=500,1000,2000, runs one open run at each)
 *     BENCH_SCENARIOS=feed,hot,post,like,mixed   FANOUT_POSTS=20   FANOUT_FOLLOWERS=10000
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createSql } from '@platform/db'
import { startTsProcess, testUrls } from '@platform/testing'
import { authorNear, bulkInsertBaseline, measureFanout, measureFanoutBurst } from './fanout.js'
import { activeUsers, type BenchFeed, recentPosts, startFeed } from './feed-process.js'
import { clearRedisPrefix, measureHotRebuild } from './hot-rebuild.js'
import { closedLoad, type LoadRequest, openLoad, type RunStats } from './load-models.js'
import { backlog, hitRatio, scrape } from './observe.js'
import { type ScenarioData, type ScenarioName, scenario } from './scenarios.js'

const env = process.env
const USERS = Number(env.BENCH_USERS ?? 100_000)
const SECONDS = Number(env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 64)
/** Offered rates of the open model per scenario, e.g. FEED_RATE=500,1000,2000: one open run at each. */
const rates = (value: string | undefined, fallback: string) => (value ?? fallback).split(',').map(Number)
const RATES: Record<ScenarioName, number[]> = {
  feed: rates(env.FEED_RATE, '2000'),
  hot: rates(env.HOT_RATE, '2000'),
  post: rates(env.POST_RATE, '200'),
  like: rates(env.LIKE_RATE, '200'),
  mixed: rates(env.MIXED_RATE, '1000'),
}
/** The issue's target: p99 of the personal feed at this offered rate. */
const TARGET_RATE = 2000
const SCENARIOS = (env.BENCH_SCENARIOS ?? 'feed,hot,post,like,mixed').split(',') as ScenarioName[]
const FANOUT_POSTS = Number(env.FANOUT_POSTS ?? 20)
const FANOUT_FOLLOWERS = Number(env.FANOUT_FOLLOWERS ?? 10_000)
const LARGE_ABOVE = Number(env.FANOUT_MAX_FOLLOWERS ?? 10_000)
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)

interface Row extends RunStats {
  scenario: ScenarioName
  target: 'bare' | 'feed'
  backlog?: string
  cache?: string
}

/**
 * VACUUM (ANALYZE) of every table of the schema, before each scenario: the runs before it (and earlier benchmarks
 * on a reused BENCH_SCHEMA) leave dead rows, above all in the outbox, which the API's relay polls. Where autovacuum
 * is off (this repository's CI machines set `autovacuum = off`) they would pile up run after run and each scenario
 * would measure a more bloated database than the one before.
 */
async function vacuumSchema(sql: ReturnType<typeof createSql>): Promise<void> {
  const tables = await sql<{ name: string }[]>`
    select tablename as name from pg_tables where schemaname = current_schema() order by tablename`
  for (const { name } of tables) await sql`vacuum (analyze) ${sql(name)}`
}

/** The schema the seed goes into: BENCH_SCHEMA (kept), or a new one (dropped at the end). */
async function prepareSchema(): Promise<{ schema: string; keep: boolean }> {
  if (env.BENCH_SCHEMA) return { schema: env.BENCH_SCHEMA, keep: true }
  return { schema: `bench_feed_${Math.random().toString(16).slice(2, 10)}`, keep: false }
}

async function seed(schema: string, redisPrefix: string) {
  const started = Date.now()
  const child = run(
    process.execPath,
    ['--import', 'tsx', 'services/feed/scripts/seed-feed.ts', '--users', String(USERS)],
    {
      cwd: ROOT,
      env: { ...env, DB_SCHEMA: schema, REDIS_PREFIX: redisPrefix, FANOUT_MAX_FOLLOWERS: String(LARGE_ABOVE) },
      maxBuffer: 16 * 1024 * 1024,
    },
  )
  const { stderr } = await child
  const summary = stderr.split('\n').filter((l) => /seeded in|already seeded|graph:/.test(l))
  console.log(`seed (${((Date.now() - started) / 1000).toFixed(0)} s): ${summary.join(' | ')}`)
}

/** One request of each scenario: its status and body size (the bare route's body), or why it cannot run. */
async function probe(feed: BenchFeed, next: () => LoadRequest): Promise<{ status: number; bytes: number }> {
  const r = next()
  const res = await fetch(`${feed.url}${r.path}`, { method: r.method, headers: r.headers, body: r.body ?? null })
  return { status: res.status, bytes: (await res.arrayBuffer()).byteLength }
}

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

async function main() {
  const { schema, keep } = await prepareSchema()
  const redisPrefix = `${schema}:`
  const sql = createSql({ url: testUrls().databaseUrl, schema, max: 4, statementTimeoutMs: 0 })
  console.log(
    `feed benchmark: ${USERS} seeded users in schema ${schema}, ${SECONDS} s per run, node ${process.version}`,
  )
  await sql.unsafe(`create schema if not exists "${schema}"`)
  await seed(schema, redisPrefix)
  const feed = await startFeed(schema, { REDIS_PREFIX: redisPrefix, FANOUT_MAX_FOLLOWERS: String(LARGE_ABOVE) })
  let bare: ReturnType<typeof startTsProcess> | undefined
  try {
    const users = await activeUsers(sql, 2000)
    const data: ScenarioData = { tokens: await feed.sign(users), postIds: await recentPosts(sql, 5000) }
    console.log(
      `tokens: ${data.tokens.length} active seeded users (scripts/sign-token.ts); ${data.postIds.length} recent posts`,
    )

    const built = new Map<ScenarioName, boolean>()
    const bytes: Record<string, number> = {}
    for (const name of ['feed', 'hot', 'post', 'like'] as const) {
      const p = await probe(feed, scenario(name, data))
      built.set(name, p.status >= 200 && p.status < 300)
      bytes[name] = p.bytes
      console.log(`probe ${name}: ${p.status}, ${p.bytes} bytes${built.get(name) ? '' : ' -> not built yet: skipped'}`)
    }
    built.set(
      'mixed',
      ['feed', 'hot', 'post', 'like'].every((n) => built.get(n as ScenarioName)),
    )

    // the bare routes answer what the feed answered, byte for byte in size (defaults where the feed has no route)
    const sized = (name: string, fallback: number) => String(built.get(name as ScenarioName) ? bytes[name] : fallback)
    bare = startTsProcess(fileURLToPath(new URL('./bare-server.mjs', import.meta.url)), {
      PORT: '0',
      FEED_BYTES: sized('feed', 8000),
      HOT_BYTES: sized('hot', 20000),
      POST_BYTES: sized('post', 400),
      LIKE_BYTES: sized('like', 100),
    })
    await bare.waitForOutput(/listening on http/)
    const bareUrl = /listening on (http:\/\/[\d.:]+)/.exec(bare.output())?.[1] as string

    const rows: Row[] = []
    for (const name of SCENARIOS) {
      if (!built.get(name)) continue
      await vacuumSchema(sql)
      const next = scenario(name, data)
      await closedLoad({ label: 'warm-up', url: feed.url, connections: 16, seconds: 3, next })
      const measured = async (target: 'bare' | 'feed', load: () => Promise<RunStats>) => {
        const before = target === 'feed' ? await scrape(feed.url) : ''
        const stats = await load()
        const row: Row = { ...stats, scenario: name, target }
        if (target === 'feed') {
          const b = await backlog(sql, feed.vhost.vhost)
          row.backlog = `${b.queued} queued, ${b.outbox} outbox`
          row.cache = hitRatio(before, await scrape(feed.url))
        }
        rows.push(row)
        console.log(line(row))
      }
      const closed = (url: string, label: string) => () =>
        closedLoad({ label, url, connections: CONNECTIONS, seconds: SECONDS, next })
      const open = (url: string, label: string, rate: number) => () =>
        openLoad({ label, url, rate, seconds: SECONDS, connections: CONNECTIONS, next })
      await measured('bare', closed(bareUrl, 'bare route'))
      await measured('feed', closed(feed.url, 'feed'))
      for (const rate of RATES[name]) {
        await measured('bare', open(bareUrl, 'bare route', rate))
        await measured('feed', open(feed.url, 'feed', rate))
      }
    }

    console.log('\nsummary')
    const ratio = (name: ScenarioName, target: number) => {
      const of = (t: 'bare' | 'feed') =>
        rows.find((r) => r.scenario === name && r.target === t && r.model.startsWith('closed'))
      const f = of('feed')
      const b = of('bare')
      if (!f || !b) return `${name}: not measured (${built.get(name) ? 'not in BENCH_SCENARIOS' : 'not built yet'})`
      const share = f.rps / b.rps
      return `${name} saturation: ${fmt(f.rps)}/s = ${(share * 100).toFixed(0)}% of the bare route's ${fmt(b.rps)}/s (target >= ${target}%: ${share * 100 >= target ? 'met' : 'NOT met'})`
    }
    console.log(`  ${ratio('feed', 50)}`)
    for (const r of rows.filter((r) => r.scenario === 'feed' && r.target === 'feed' && r.model.startsWith('open'))) {
      const target =
        r.model === `open ${TARGET_RATE}/s`
          ? ` (target < 15 ms at ${TARGET_RATE}/s: ${r.p99 < 15 ? 'met' : 'NOT met'})`
          : ''
      console.log(
        `  feed p99 at ${r.model.slice(5)} offered: ${r.p99.toFixed(1)} ms${target}, ${fmt(r.rps)}/s answered 2xx`,
      )
    }
    console.log(`  ${ratio('hot', 70)}`)

    const author = FANOUT_POSTS > 0 ? await authorNear(sql, FANOUT_FOLLOWERS, LARGE_ABOVE) : undefined
    if (FANOUT_POSTS <= 0) {
      console.log('  fan-out: not measured (FANOUT_POSTS=0)')
    } else if (!author) {
      console.log('  fan-out: no seeded author to post with')
    } else {
      const baseline = await bulkInsertBaseline(sql, author, 5)
      console.log(
        `  direct bulk insert baseline: ${fmt(baseline)} entries/s (INSERT ... SELECT of ${author.followers} followers' entries into user_feed, rolled back, 5 rounds)`,
      )
      if (!feed.worker) {
        console.log('  fan-out: not measured: the fan-out worker did not start')
      } else {
        const [token] = await feed.sign([author.id])
        const f = await measureFanout(sql, feed.url, token as string, author, FANOUT_POSTS)
        console.log(
          `  fan-out of an author with ${author.followers} followers, ${FANOUT_POSTS} posts: p50 ${f.p50.toFixed(2)} s, p99 ${f.p99.toFixed(2)} s, max ${f.max.toFixed(2)} s` +
            `${f.incomplete ? `, ${f.incomplete} not complete within 30 s` : ''} (target p99 < 2 s: ${f.p99 < 2 && !f.incomplete ? 'met' : 'NOT met'}); ` +
            `worker ${fmt(f.entriesPerSecond)} entries/s = ${((f.entriesPerSecond / baseline) * 100).toFixed(0)}% of the bulk insert`,
        )
        // The same posts at once: how the window grows when large fan-outs arrive together (no target; docs/feed.md).
        const b = await measureFanoutBurst(sql, feed.url, token as string, author, FANOUT_POSTS)
        console.log(
          `  fan-out burst, ${FANOUT_POSTS} posts at once: p50 ${b.p50.toFixed(2)} s, p99 ${b.p99.toFixed(2)} s from the first 201` +
            `${b.incomplete ? `, ${b.incomplete} not complete within 60 s` : ''}; worker ${fmt(b.entriesPerSecond)} entries/s`,
        )
      }
    }
    const hot = await measureHotRebuild(sql)
    console.log(
      `  hot-bucket rebuild from likes: ${fmt(hot.likes)} likes of the window, ${fmt(hot.rebuild)} likes/s ` +
        `= ${((hot.rebuild / hot.cursor) * 100).toFixed(0)}% of reading them alone (${fmt(hot.cursor)}/s; median of 3)`,
    )
  } catch (error) {
    console.error(`feed's last output:\n${feed.api.output().split('\n').slice(-30).join('\n')}`)
    if (feed.worker) console.error(`worker's last output:\n${feed.worker.output().split('\n').slice(-30).join('\n')}`)
    throw error
  } finally {
    await Promise.all([feed.stop(), bare?.kill('SIGTERM')])
    if (!keep) await sql.unsafe(`drop schema if exists "${schema}" cascade`).catch(() => {})
    await sql.end({ timeout: 5 })
    if (!keep) await clearRedisPrefix(redisPrefix)
  }
}

function line(r: Row): string {
  const errorRate = r.requests > 0 ? (r.errors / r.requests) * 100 : 0
  const failures = Object.entries(r.failures)
    .map(([k, v]) => `${k}:${v}`)
    .join(' ')
  return [
    r.scenario.padEnd(6),
    (r.target === 'bare' ? 'bare route' : 'feed').padEnd(11),
    r.model.padEnd(18),
    `${fmt(r.rps)}/s`.padStart(9),
    `p50/p95/p99 ${r.p50.toFixed(1)}/${r.p95.toFixed(1)}/${r.p99.toFixed(1)} ms`.padEnd(34),
    `errors ${errorRate.toFixed(2)}%${failures ? ` (${failures})` : ''}`.padEnd(22),
    r.sendLagP99 === undefined ? '' : `send lag p99 ${r.sendLagP99.toFixed(1)} ms`,
    r.backlog ? `| backlog ${r.backlog}` : '',
    r.cache ? `| cache ${r.cache}` : '',
  ].join(' ')
}

await main()
