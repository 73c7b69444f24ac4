import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSpan, startTracing, type Tracing, withSpan } from '../index.js'
import { HostFilteredPropagator } from '../lib/propagator.js'
import { type OtlpReceiver, SPAN_KIND, startOtlpReceiver } from '../lib/testing.js'

/**
 * fetch() sends the trace context only to the hosts of TRACE_PROPAGATE_HOSTS (propagator.ts); a request to any other
 * host still gets its client span.
 */
let receiver: OtlpReceiver
let tracing: Tracing
const servers: Server[] = []
const seen = new Map<number, IncomingHttpHeaders>()

async function listen(): Promise<number> {
  const server = createServer((req, res) => {
    seen.set((server.address() as AddressInfo).port, req.headers)
    res.end('ok')
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

let internal: number
let external: number

beforeAll(async () => {
  receiver = await startOtlpReceiver()
  internal = await listen()
  external = await listen()
  tracing = await startTracing({
    service: 'propagation-test',
    endpoint: `${receiver.url}/v1/traces`,
    sampleRatio: 1,
    propagateHosts: [`127.0.0.1:${internal}`],
  })
})

afterAll(async () => {
  await tracing?.shutdown()
  await receiver?.close()
  for (const server of servers) server.close()
})

describe('trace context on fetch()', () => {
  it('goes to a listed host only; both calls are client spans of the trace', async () => {
    const parent = startSpan('test', 'caller')
    await withSpan(parent, async () => {
      for (const port of [internal, external]) await (await fetch(`http://127.0.0.1:${port}/`)).text()
    })
    parent.end()
    const traceId = parent.spanContext().traceId
    expect(seen.get(internal)?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`))
    expect(seen.get(external)?.traceparent).toBeUndefined()
    expect(seen.get(external)?.tracestate).toBeUndefined()
    await tracing.flush()
    const clients = receiver.trace(traceId).filter((s) => s.kind === SPAN_KIND.client)
    expect(clients.map((s) => s.attributes['server.port']).sort()).toEqual([internal, external].sort())
  })

  it('matches a host with any port, a host:port, and subdomains of a .domain', () => {
    const p = new HostFilteredPropagator(['Internal.example', 'api.example:8443', '.svc.cluster.local'])
    expect(p.allows('https://internal.example')).toBe(true)
    expect(p.allows('http://internal.example:8080')).toBe(true)
    expect(p.allows('https://api.example:8443')).toBe(true)
    expect(p.allows('https://api.example')).toBe(false)
    expect(p.allows('http://feed.ns.svc.cluster.local:3000')).toBe(true)
    expect(p.allows('https://evil-svc.cluster.local.example')).toBe(false)
    expect(p.allows('https://github.com')).toBe(false)
  })
})
