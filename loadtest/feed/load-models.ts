/**
 * The two load models of the feed benchmarks (docs/performance.md#feed):
 *
 *  - open (`openLoad`): requests at a fixed arrival rate, the i-th due at start + i / rate whatever the answers
 *    do. Latency is measured from that intended send time, not from when the request got a connection, so a server
 *    that stalls is charged for every request that should have gone out meanwhile (no coordinated omission: Gil
 *    Tene, "How NOT to measure latency"; wrk2 does the same). A small scheduler over an undici Pool.
 *  - closed (`closedLoad`): a fixed number of connections, each sending its next request when the last one is
 *    answered: the saturation throughput. autocannon.
 *
 * Both take the same request factory, so a scenario is written once.
 */
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'

export interface LoadRequest {
  method: 'GET' | 'POST' | 'PUT'
  path: string
  headers: Record<string, string>
  body?: string
}

export interface RunStats {
  label: string
  model: string
  requests: number
  ok: number
  errors: number
  /** Status codes other than 2xx, and transport errors as "error". */
  failures: Record<string, number>
  seconds: number
  rps: number
  p50: number
  p95: number
  p99: number
  /** Open model only: how late the scheduler sent its requests, p99 (ms); above a few ms the generator lagged. */
  sendLagP99?: number
}

const quantile = (sorted: Float64Array, q: number) =>
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number)

function stats(
  label: string,
  model: string,
  latencies: Float64Array,
  ok: number,
  failures: Record<string, number>,
  seconds: number,
): Omit<RunStats, 'sendLagP99'> {
  const sorted = latencies.slice().sort()
  const errors = Object.values(failures).reduce((a, b) => a + b, 0)
  return {
    label,
    model,
    requests: ok + errors,
    ok,
    errors,
    failures,
    seconds,
    rps: ok / seconds,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
  }
}

// undici comes with testcontainers (a dependency of @platform/testing), resolved from there: no dependency added.
interface UndiciPool {
  request(options: {
    path: string
    method: string
    headers: Record<string, string>
    body?: string
  }): Promise<{ statusCode: number; body: { dump(): Promise<void> } }>
  close(): Promise<void>
}
const testingRequire = createRequire(new URL('../../packages/testing/package.json', import.meta.url))
const { Pool } = createRequire(testingRequire.resolve('testcontainers'))('undici') as {
  Pool: new (origin: string, options: Record<string, unknown>) => UndiciPool
}

export interface OpenLoadOptions {
  label: string
  url: string
  /** Requests per second offered. */
  rate: number
  seconds: number
  /** Connections of the pool; requests beyond them wait in the pool's queue (and that wait counts). */
  connections?: number
  next: () => LoadRequest
}

export async function openLoad(o: OpenLoadOptions): Promise<RunStats> {
  const pool = new Pool(o.url, { connections: o.connections ?? 64, pipelining: 1, keepAliveTimeout: 30_000 })
  const total = Math.max(1, Math.round(o.rate * o.seconds))
  const interval = 1000 / o.rate
  const latencies = new Float64Array(total)
  const lags = new Float64Array(total)
  const failures: Record<string, number> = {}
  let done = 0
  let ok = 0
  let sent = 0
  const inFlight = new Set<Promise<void>>()
  const start = performance.now() + 20

  const fire = (i: number, intended: number) => {
    const request = o.next()
    lags[i] = performance.now() - intended
    const p = pool
      .request({ path: request.path, method: request.method, headers: request.headers, body: request.body })
      .then(async (res) => {
        await res.body.dump()
        latencies[done++] = performance.now() - intended
        if (res.statusCode >= 200 && res.statusCode < 300) ok++
        else failures[res.statusCode] = (failures[res.statusCode] ?? 0) + 1
      })
      .catch(() => {
        latencies[done++] = performance.now() - intended
        failures.error = (failures.error ?? 0) + 1
      })
      .finally(() => inFlight.delete(p))
    inFlight.add(p)
  }

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      const due = Math.min(total, Math.floor((now - start) / interval) + 1)
      while (sent < due) {
        fire(sent, start + sent * interval)
        sent++
      }
      if (sent >= total) return resolve()
      setTimeout(tick, Math.max(0, Math.min(5, start + sent * interval - performance.now())))
    }
    setTimeout(tick, 20)
  })
  // the stragglers, for at most 10 s: what is still unanswered then counts as failed, at the time waited
  let timer: NodeJS.Timeout | undefined
  await Promise.race([Promise.all(inFlight), new Promise((r) => (timer = setTimeout(r, 10_000)))])
  clearTimeout(timer)
  const unanswered = total - done
  if (unanswered > 0) failures.unanswered = unanswered
  const elapsed = (performance.now() - start) / 1000
  await pool.close().catch(() => {})
  const result = stats(o.label, `open ${o.rate}/s`, latencies.subarray(0, done), ok, failures, elapsed)
  return { ...result, sendLagP99: quantile(lags.slice().sort(), 0.99) }
}

type Autocannon = (options: Record<string, unknown>) => {
  on(event: 'response', fn: (client: unknown, status: number, bytes: number, ms: number) => void): void
  then: Promise<{ duration: number; errors: number; timeouts: number }>['then']
}
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon

export interface ClosedLoadOptions {
  label: string
  url: string
  connections: number
  seconds: number
  next: () => LoadRequest
}

export async function closedLoad(o: ClosedLoadOptions): Promise<RunStats> {
  const latencies: number[] = []
  const failures: Record<string, number> = {}
  let ok = 0
  const first = o.next()
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.seconds,
    // a new request (token, path, Idempotency-Key) each time a connection sends one
    requests: [{ method: first.method, setupRequest: (r: Record<string, unknown>) => ({ ...r, ...o.next() }) }],
  })
  instance.on('response', (_client, status, _bytes, ms) => {
    latencies.push(ms)
    if (status >= 200 && status < 300) ok++
    else failures[status] = (failures[status] ?? 0) + 1
  })
  const result = await instance
  const transport = result.errors + result.timeouts
  if (transport > 0) failures.error = transport
  return stats(
    o.label,
    `closed ${o.connections} conns`,
    Float64Array.from(latencies),
    ok,
    failures,
    result.duration || o.seconds,
  )
}
