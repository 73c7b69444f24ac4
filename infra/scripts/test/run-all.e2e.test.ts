import { createHmac, randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// Relative imports: the repository root has no @platform/* dependencies of its own (as in run-all.ts).
import { createSql } from '../../../packages/db/index.js'
import { createTestClickHouseDatabase, type TestClickHouse } from '../../../packages/eventlog/lib/testing.js'
import {
  createTestVhost,
  listening,
  type RunningProcess,
  redisPrefix,
  sleep,
  startTsProcess,
  type TestVhost,
  testUrls,
  uniqueName,
  waitFor,
} from '../../../packages/testing/index.js'

/**
 * `npm start`'s supervisor with the five real services and the feed's worker (infra/scripts/run-all.ts): the log-shipper SIGKILLed while
 * signed webhooks arrive at ~100/s. Ingest never stops answering them (it does not need the log-shipper) and the
 * log-shipper comes back on its own. Before the supervisor, the first death stopped all five.
 * Isolated like every test: its own ports, schemas (RUN_ALL_SCHEMA_PREFIX), vhost, Redis prefix, ClickHouse database.
 */
const runAll = fileURLToPath(new URL('../run-all.ts', import.meta.url))
const SERVICES = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper']
/** Processes without API routes, beside their service: their probes on the ports after the services'. */
const WORKERS = ['feed-worker']
const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`

let vhost: TestVhost
let ch: TestClickHouse
let supervisor: RunningProcess
let basePort: number
const schemaPrefix = `${uniqueName('runall')}_`
const sourcesFile = join(tmpdir(), `run-all-sources-${randomUUID()}.json`)
const url = (service: string) => `http://127.0.0.1:${basePort + SERVICES.indexOf(service)}`
const workerUrl = (worker: string) => `http://127.0.0.1:${basePort + SERVICES.length + WORKERS.indexOf(worker)}`

/** Consecutive free ports below the ephemeral range (where PORT=0 servers of other tests land), one per process. */
async function freePorts(): Promise<number> {
  for (;;) {
    const base = 15_000 + Math.floor(Math.random() * 15_000)
    const taken = await Promise.all([...SERVICES, ...WORKERS].map((_, i) => listening('127.0.0.1', base + i, 200)))
    if (!taken.some(Boolean)) return base
  }
}

beforeAll(async () => {
  ;[vhost, ch, basePort] = await Promise.all([
    createTestVhost('runall'),
    createTestClickHouseDatabase('runall'),
    freePorts(),
  ])
  writeFileSync(
    sourcesFile,
    JSON.stringify({ sources: [{ name: 'orders', scheme: 'standard', secrets: [SECRET], readToken: 'x'.repeat(20) }] }),
  )
  supervisor = startTsProcess(runAll, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    NO_COLOR: '1',
    RUN_ALL_BASE_PORT: String(basePort),
    RUN_ALL_SCHEMA_PREFIX: schemaPrefix,
    RUN_ALL_GRACE_MS: '10000',
    SHUTDOWN_TIMEOUT_MS: '5000',
    DATABASE_URL: testUrls().databaseUrl,
    AMQP_URL: vhost.amqpUrl,
    REDIS_URL: testUrls().redisUrl,
    REDIS_PREFIX: redisPrefix('runall'),
    CLICKHOUSE_URL: testUrls().clickhouseUrl,
    CLICKHOUSE_DATABASE: ch.database,
    WEBHOOK_SOURCES_FILE: sourcesFile,
    // Simulated work of at most 1 s (not 2-5 s), so the processor's graceful stop fits in SHUTDOWN_TIMEOUT_MS.
    PROCESSING_DELAY_MS: '500-1000',
  })
  for (const service of SERVICES) {
    await waitFor(async () => (await fetch(`${url(service)}/health/ready`)).status === 200, {
      timeoutMs: 45_000,
      intervalMs: 200,
      message: `${service} ready`,
    })
  }
  await waitFor(async () => (await fetch(`${workerUrl('feed-worker')}/health/ready`)).status === 200, {
    timeoutMs: 45_000,
    intervalMs: 200,
    message: 'feed-worker ready',
  })
}, 60_000)

afterAll(async () => {
  const stillRunning = () => supervisor && supervisor.child.exitCode === null && supervisor.child.signalCode === null
  if (stillRunning()) {
    supervisor.child.kill('SIGTERM')
    await Promise.race([supervisor.exited, sleep(12_000)])
  }
  if (stillRunning()) {
    // It did not stop them (a failed test): no service outlives the test. Each runs in a process group of its own.
    const pids = new Map<string, string>()
    for (const [, name, pid] of supervisor.output().matchAll(/([\w-]+) (?:started|restarted) \(.*pid (\d+)\)/g)) {
      pids.set(name!, pid!)
    }
    for (const pid of pids.values()) {
      try {
        process.kill(-Number(pid), 'SIGKILL')
      } catch {}
    }
    await supervisor.kill('SIGKILL')
  }
  rmSync(sourcesFile, { force: true })
  const sql = createSql({ url: testUrls().databaseUrl, schema: 'public', max: 1 })
  for (const service of SERVICES) {
    await sql.unsafe(`drop schema if exists "${schemaPrefix}${service.replaceAll('-', '_')}" cascade`)
  }
  await sql.end({ timeout: 5 })
  await Promise.allSettled([vhost?.delete(), ch?.drop()])
}, 60_000)

/** The pid of the supervisor's child running `service` (read from /proc: what an operator's `ps` shows). */
function childPid(service: string): number {
  const entry = join('services', service, 'src', 'server.ts')
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const ppid = readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')[1]
      if (Number(ppid) !== supervisor.child.pid) continue
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(entry)) return Number(pid)
    } catch {} // gone meanwhile
  }
  throw new Error(`no child process runs ${entry}`)
}

/** One signed webhook (Standard Webhooks scheme); resolves with the status, or the error (e.g. ECONNREFUSED). */
async function deliver(): Promise<string> {
  const payload = JSON.stringify({ idempotency_key: `ord-${randomUUID()}`, event_type: 'order.created', payload: {} })
  const id = `msg_${randomUUID()}`
  const t = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', Buffer.from(SECRET.slice(6), 'base64')).update(`${id}.${t}.${payload}`)
  try {
    const res = await fetch(`${url('ingest')}/v1/webhooks/orders`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(t),
        'webhook-signature': `v1,${mac.digest('base64')}`,
      },
      body: payload,
      signal: AbortSignal.timeout(10_000),
    })
    await res.arrayBuffer()
    return String(res.status)
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause
    return cause?.code ?? (error as Error).message
  }
}

/** `<service> <status>`, or `<service> <error code>` when it did not answer. */
async function probe(target: string, service: string): Promise<string> {
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(5000) })
    await res.arrayBuffer()
    return `${service} ${res.status}`
  } catch (error) {
    return `${service} ${(error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message}`
  }
}

describe('npm start supervisor (run-all)', () => {
  it('restarts a SIGKILLed log-shipper alone while ingest keeps accepting webhooks and the others answer', async () => {
    // ~100 webhooks/s, from before the kill until after the log-shipper is back (or 30 s passed).
    const results: Promise<string>[] = []
    const sender = setInterval(() => results.push(deliver()), 10)
    // And the other services, every 100 ms each: none of them stops answering either.
    const others = SERVICES.filter((s) => s !== 'ingest' && s !== 'log-shipper')
    const probes: Promise<string>[] = []
    const prober = setInterval(() => {
      for (const service of others) probes.push(probe(`${url(service)}/health/live`, service))
    }, 100)
    const pid = childPid('log-shipper')
    let back: boolean
    try {
      await sleep(1000)
      process.kill(pid, 'SIGKILL')
      await waitFor(() => !existsSync(`/proc/${pid}`), { message: 'the log-shipper gone' })
      back = await waitFor(async () => (await fetch(`${url('log-shipper')}/health/ready`)).status === 200, {
        timeoutMs: 30_000,
        intervalMs: 200,
      }).catch(() => false)
      // Traffic on after the restart too (on a loaded machine the sender's ticks come late: 200 take longer).
      await sleep(2000)
    } finally {
      clearInterval(sender)
      clearInterval(prober)
    }
    const statuses = await Promise.all(results)
    expect(statuses.length).toBeGreaterThan(200)
    const failed = statuses.filter((s) => !/^2\d\d$/.test(s))
    expect({ failed: failed.length, first: failed.slice(0, 5) }).toEqual({ failed: 0, first: [] })
    const answers = await Promise.all(probes)
    expect(answers.length).toBeGreaterThan(others.length * 20)
    expect(answers.filter((a) => !a.endsWith(' 200'))).toEqual([])

    // The log-shipper came back as a new process, and the supervisor said so.
    expect(back).toBe(true)
    expect(childPid('log-shipper')).not.toBe(pid)
    expect(supervisor.output()).toMatch(
      /log-shipper crashed \(signal SIGKILL\) after [\d.]+ s: restart #1 in 0\.5 s \(crash 1 of 5 allowed within 60 s\)/,
    )
    expect(supervisor.output()).toMatch(/log-shipper restarted \(restart #1, pid \d+\)/)
    // Nobody else was restarted or stopped.
    expect(supervisor.output()).not.toMatch(/(ingest|feed|analytics|processor|feed-worker) (crashed|restarted|stopped)/)
    for (const service of SERVICES) expect((await fetch(`${url(service)}/health/ready`)).status).toBe(200)

    // Ctrl-C / SIGTERM: today's graceful stop of all five, exit 0.
    supervisor.child.kill('SIGTERM')
    const code = await supervisor.exited
    expect({ code, output: code === 0 ? '' : supervisor.output().slice(-3000) }).toEqual({ code: 0, output: '' })
    for (const service of [...SERVICES, ...WORKERS]) {
      expect(supervisor.output()).toContain(`${service} stopped (exit code 0)`)
    }
    expect(supervisor.output()).toMatch(/all services stopped/)
  }, 60_000)
})
