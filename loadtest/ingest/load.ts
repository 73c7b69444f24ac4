/**
 * What the ingest benchmarks share: signed requests, wrk runs, and an ingest process started as it is deployed (its
 * package.json Node flags) on a schema, vhost and Redis prefix of its own, with its outbox backlog at hand.
 */
import { execFileSync } from 'node:child_process'
import { createHmac, randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  createTestSchema,
  createTestVhost,
  type RunningProcess,
  redisPrefix,
  startTsProcess,
  type TestSchema,
  waitFor,
} from '@platform/testing'
import { serviceNodeArgs } from '../../infra/scripts/lib/node-args.js'

export const SECRET = 'whsec_bench_0123456789abcdef'
const WRK_SCRIPT = fileURLToPath(new URL('../lib/wrk-requests.lua', import.meta.url))
const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url))

export interface Run {
  label: string
  offered: string
  accepted: number
  perSecond: number
  p50: number
  p95: number
  p99: number
  errors: number
  /** Ingest only: rows its outbox relay had not yet published when the run ended. */
  backlog?: number
}

/** A signed Stripe-shaped event with a fresh id per request: every request is a new event, never a duplicate. */
export function signedRequest(request: Record<string, unknown>) {
  const id = `evt_${randomUUID()}`
  const body = JSON.stringify({
    id,
    type: 'charge.succeeded',
    created: 1_700_000_000,
    data: { object: { id: `ch_${id.slice(4, 20)}`, amount: 1000, currency: 'eur', metadata: { order_id: `o_${id}` } } },
  })
  const t = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex')
  return {
    ...request,
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${mac}` },
  }
}

/** `count` signed requests, each a new event, in wrk-requests.lua's line format. */
export function writeSignedRequests(count: number): string {
  const file = join(tmpdir(), `ingest-wrk-${randomUUID()}.txt`)
  const lines: string[] = []
  for (let i = 0; i < count; i++) {
    const { body, headers } = signedRequest({})
    lines.push(`Stripe-Signature\t${headers['stripe-signature']}\t${body}`)
  }
  writeFileSync(file, `${lines.join('\n')}\n`)
  return file
}

export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' })
    return true
  } catch (error) {
    // `wrk --version` prints its usage and exits 1: it is installed.
    return (error as { status?: number }).status === 1
  }
}

/**
 * Saturation with wrk (Debian's package), a load generator in C: autocannon spends ~80 µs of CPU per request in
 * JavaScript, which on a 2-core machine is CPU taken from the service under test. Every line of `file` is a request
 * sent once (see ../lib/wrk-requests.lua); one wrk thread, so none is sent twice.
 */
export function wrkLoad(label: string, url: string, file: string, connections: number, seconds: number): Run {
  const out = execFileSync(
    'wrk',
    [
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '--timeout',
      '10s',
      '-s',
      WRK_SCRIPT,
      url,
      '--',
      file,
      '/v1/webhooks/payment',
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 * 1024 * 1024 },
  )
  const json = /WRK_JSON (\{.*\})/.exec(out)?.[1]
  if (!json) throw new Error(`wrk printed no summary:\n${out}`)
  const r = JSON.parse(json) as Record<string, number>
  const elapsed = (r.duration_us ?? 1) / 1e6
  const errors = (r.non2xx ?? 0) + (r.socket_errors ?? 0)
  return {
    label,
    offered: `saturation (${connections} conns, wrk)`,
    accepted: (r.requests ?? 0) - errors,
    perSecond: ((r.requests ?? 0) - errors) / elapsed,
    p50: (r.p50_us ?? 0) / 1000,
    p95: (r.p95_us ?? 0) / 1000,
    p99: (r.p99_us ?? 0) / 1000,
    errors,
  }
}

/** The Node flags ingest is deployed with: services/ingest/package.json `platform.nodeArgs`, as run-all reads them. */
export const ingestNodeArgs = (root = REPOSITORY): string[] => serviceNodeArgs('ingest', root)

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface BenchIngest {
  process: RunningProcess
  url: string
  schema: TestSchema
  /** Accepted events whose messages the outbox relay has not published yet. */
  backlog(): Promise<number>
  /** Waits until the relay has published everything accepted so far. */
  settle(): Promise<void>
  stop(): Promise<void>
}

/**
 * Starts ingest from the checkout at `root` (default: this one) with `nodeArgs` (default: the checkout's deployed
 * flags) and waits until it is ready. One source, `payment` (stripe, SECRET), whose rate limit never applies.
 */
export async function startIngest(
  options: { root?: string; nodeArgs?: string[]; env?: Record<string, string> } = {},
): Promise<BenchIngest> {
  const root = options.root ?? REPOSITORY
  const schema = await createTestSchema('bench_ingest')
  const vhost = await createTestVhost('bench_ingest')
  const sources = join(tmpdir(), `bench-sources-${randomUUID()}.json`)
  writeFileSync(
    sources,
    JSON.stringify({
      sources: [
        {
          name: 'payment',
          scheme: 'stripe',
          secrets: [SECRET],
          readToken: 'bench-read-token-0123456789',
          rateLimit: { max: 10_000_000, timeWindowMs: 1000 },
        },
      ],
    }),
  )
  // warn keeps per-request log lines out of the measurement, so the port is chosen here rather than read from a log line.
  const port = await freePort()
  const child = startTsProcess(
    join(root, 'services', 'ingest', 'src', 'server.ts'),
    {
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DB_SCHEMA: schema.schema,
      AMQP_URL: vhost.amqpUrl,
      REDIS_PREFIX: redisPrefix('bench'),
      WEBHOOK_SOURCES_FILE: sources,
      RATE_LIMIT_MAX: '10000000',
      ...options.env,
    },
    options.nodeArgs ?? ingestNodeArgs(root),
  )
  const url = `http://127.0.0.1:${port}`
  const backlog = async () => (await schema.sql<{ n: number }[]>`select count(*)::int as n from outbox`)[0]?.n ?? 0
  const stop = async () => {
    await child.kill('SIGTERM')
    await Promise.allSettled([schema.drop(), vhost.delete()])
  }
  try {
    await waitFor(async () => (await fetch(`${url}/health/ready`)).ok, { timeoutMs: 60_000, message: 'ingest ready' })
  } catch (error) {
    console.error(`ingest's last output:\n${child.output().split('\n').slice(-30).join('\n')}`)
    await stop()
    throw error
  }
  return {
    process: child,
    url,
    schema,
    backlog,
    async settle() {
      await waitFor(async () => (await backlog()) === 0, {
        timeoutMs: 300_000,
        intervalMs: 200,
        message: 'outbox empty',
      })
    },
    stop,
  }
}
