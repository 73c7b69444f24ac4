/**
 * Two (or more) ingest variants side by side: all are started, then each round runs wrk against every variant in
 * turn (the order alternating from round to round), so the machine's drift over minutes falls on all alike. Prints
 * each run and, per variant, the median rate and the median CPU per accepted event of the ingest process; and for
 * two variants, in how many rounds the first one spent less CPU per event than the second.
 *
 *   node --import tsx loadtest/ingest/compare.ts
 *     VARIANTS  "name=<checkout>|<node flags>[|NAME=value,...];..."  default: this checkout with its deployed Node
 *               flags, and without them. <checkout> may be another worktree (git worktree add /tmp/before HEAD~1; pnpm
 *               install there); NAME=value pairs are the variant's own environment (GROUP_COMMIT_MAX_IN_FLIGHT=5).
 *     ROUNDS=6 CONNECTIONS=400 BENCH_SECONDS=10 WRK_REQUESTS=150000
 *
 * Measured with it: ingest's --max-semi-space-size=64 (docs/adr/0008-ingest-group-commit.md).
 */
import { fileURLToPath } from 'node:url'
import { measureCpu, perUnit } from '../lib/machine-cpu.js'
import { type BenchIngest, hasWrk, ingestNodeArgs, startIngest, writeSignedRequests, wrkLoad } from './load.js'

const ROUNDS = Number(process.env.ROUNDS ?? 6)
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 400)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const WRK_REQUESTS = Number(process.env.WRK_REQUESTS ?? 150_000)
const here = fileURLToPath(new URL('../..', import.meta.url))

interface Variant {
  name: string
  root: string
  nodeArgs: string[]
  env: Record<string, string>
}

function variants(): Variant[] {
  const spec = process.env.VARIANTS ?? `deployed=${here}|${ingestNodeArgs().join(' ')};no-flags=${here}|`
  return spec.split(';').map((entry) => {
    const eq = entry.indexOf('=')
    const [root = here, flags = '', settings = ''] = entry.slice(eq + 1).split('|')
    if (eq < 1) throw new Error(`VARIANTS entry "${entry}" is not name=<checkout>|<node flags>[|NAME=value,...]`)
    const env = Object.fromEntries(
      settings
        .split(',')
        .filter(Boolean)
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    )
    return { name: entry.slice(0, eq), root, nodeArgs: flags.split(' ').filter(Boolean), env }
  })
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

if (!hasWrk()) throw new Error('compare.ts needs wrk (apt-get install wrk)')
const started: { variant: Variant; ingest: BenchIngest; rates: number[]; cpu: number[] }[] = []
try {
  for (const variant of variants()) {
    const ingest = await startIngest({ root: variant.root, nodeArgs: variant.nodeArgs, env: variant.env })
    started.push({ variant, ingest, rates: [], cpu: [] })
    console.log(`${variant.name}: ${variant.root} ${variant.nodeArgs.join(' ') || '(no node flags)'}`)
  }
  // Warm-up: JIT and connection pools, 3 s at 100 connections each.
  for (const s of started) wrkLoad('warm-up', s.ingest.url, writeSignedRequests(20_000), 100, 3)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const s of round % 2 ? started : [...started].reverse()) {
      const file = writeSignedRequests(WRK_REQUESTS)
      for (const other of started) await other.ingest.settle()
      const cpu = measureCpu({ ingest: [s.ingest.process.child.pid] })
      const run = wrkLoad(s.variant.name, s.ingest.url, file, CONNECTIONS, SECONDS)
      const used = cpu.stop()
      const backlog = await s.ingest.backlog()
      s.rates.push(run.perSecond)
      s.cpu.push(((used.groups.ingest ?? 0) / Math.max(run.accepted, 1)) * 1e6)
      console.log(
        `round ${round} ${s.variant.name.padEnd(12)} ${run.perSecond.toFixed(0).padStart(6)}/s  p99 ${run.p99.toFixed(0)} ms  ` +
          `${run.errors} errors  ${backlog} not yet published  ${perUnit(used, run.accepted)}`,
      )
    }
  }
  console.log(`\n${CONNECTIONS} connections, ${SECONDS} s per run, ${ROUNDS} rounds:`)
  for (const s of started) {
    console.log(
      `  ${s.variant.name.padEnd(12)} median ${median(s.rates).toFixed(0)}/s, ingest process ${median(s.cpu).toFixed(0)} µs per accepted event`,
    )
  }
  const [a, b] = started
  if (a && b && started.length === 2) {
    const less = a.cpu.filter((v, i) => v < (b.cpu[i] ?? Number.POSITIVE_INFINITY)).length
    const faster = a.rates.filter((v, i) => v > (b.rates[i] ?? 0)).length
    console.log(
      `  ${a.variant.name} spent less CPU per event than ${b.variant.name} in ${less} of ${ROUNDS} rounds, and was faster in ${faster}`,
    )
  }
} finally {
  await Promise.allSettled(started.map((s) => s.ingest.stop()))
}
