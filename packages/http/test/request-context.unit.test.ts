import { setTimeout as sleep } from 'node:timers/promises'
import { currentCorrelationId } from '@platform/logging'
import { afterEach, describe, expect, it } from 'vitest'
import type { ServiceApp } from '../index.js'
import { buildTestApp, type LogLine, TEST_CONFIG } from './helpers.js'

let app: ServiceApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

async function contextApp() {
  const built = await buildTestApp()
  app = built.app
  app.get('/whoami', async (request) => {
    await sleep(5)
    request.log.info('handling whoami')
    return { correlationId: currentCorrelationId() ?? null }
  })
  // A body is read from socket events outside the request's context; the handler must still see it.
  app.post('/echo', async (request) => {
    await sleep(5)
    built.log.logger.info('handling echo')
    return { correlationId: currentCorrelationId() ?? null, body: request.body }
  })
  app.get('/inspect', async (request) => {
    request.log.warn({ headers: request.headers }, 'inspecting headers')
    return 'ok'
  })
  return built
}

const byMessage = (lines: LogLine[], msg: string) => lines.filter((l) => l.msg === msg)

describe('correlation ids', () => {
  it('takes the caller id, echoes it, and every line of the request carries it', async () => {
    const { app, log } = await contextApp()
    const res = await app.inject({ method: 'GET', url: '/whoami', headers: { 'x-correlation-id': 'order-42.a:b' } })
    expect(res.headers['x-correlation-id']).toBe('order-42.a:b')
    expect(res.json()).toEqual({ correlationId: 'order-42.a:b' })
    expect(byMessage(log.lines, 'handling whoami')).toEqual([
      expect.objectContaining({ correlationId: 'order-42.a:b' }),
    ])
    // Fastify's own completion line is written from the response's 'finish' event; it carries the id too.
    expect(byMessage(log.lines, 'request completed')).toEqual([
      expect.objectContaining({ correlationId: 'order-42.a:b', res: { statusCode: 200 } }),
    ])
    expect(log.lines.every((l) => !('reqId' in l))).toBe(true)
  })

  it('keeps the context through body parsing', async () => {
    const { app, log } = await contextApp()
    const res = await app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'x-correlation-id': 'with-body' },
      payload: { hello: 'world' },
    })
    expect(res.json()).toEqual({ correlationId: 'with-body', body: { hello: 'world' } })
    expect(byMessage(log.lines, 'handling echo')[0]?.correlationId).toBe('with-body')
  })

  it('makes a new id when the header is missing or unsafe to log', async () => {
    const { app } = await contextApp()
    const none = await app.inject({ method: 'GET', url: '/whoami' })
    const unsafe = await app.inject({ method: 'GET', url: '/whoami', headers: { 'x-correlation-id': 'a b"}{' } })
    for (const res of [none, unsafe]) {
      const id = res.headers['x-correlation-id']
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
      expect(res.json()).toEqual({ correlationId: id })
    }
    expect(none.headers['x-correlation-id']).not.toBe(unsafe.headers['x-correlation-id'])
  })

  it('echoes the id on error responses as well', async () => {
    const { app } = await contextApp()
    const res = await app.inject({ method: 'GET', url: '/missing', headers: { 'x-correlation-id': 'lost-1' } })
    expect(res.statusCode).toBe(404)
    expect(res.headers['x-correlation-id']).toBe('lost-1')
  })
})

describe('request logs', () => {
  it('never contain Authorization or signature header values', async () => {
    const { app, log } = await contextApp()
    await app.inject({
      method: 'GET',
      url: '/inspect',
      headers: {
        authorization: 'Bearer top-secret-token',
        'stripe-signature': 't=1,v1=secret-signature',
        'x-hub-signature-256': 'sha256=secret-hub',
      },
    })
    const output = log.raw.join('')
    expect(output).toContain('inspecting headers')
    expect(output).not.toMatch(/top-secret-token|secret-signature|secret-hub/)
    const inspected = byMessage(log.lines, 'inspecting headers')[0] as unknown as { headers: Record<string, string> }
    expect(inspected.headers.authorization).toBe('[redacted]')
    expect(inspected.headers['stripe-signature']).toBe('[redacted]')
  })

  it("never contain the values of secret query parameters (an OAuth callback's code and state)", async () => {
    const { app, log } = await contextApp()
    await app.inject({ method: 'GET', url: '/inspect?code=secret-code&limit=5&State=secret-state&access_token=tok-1' })
    const incoming = byMessage(log.lines, 'incoming request')[0] as unknown as { req: { url: string } }
    expect(incoming.req.url).toBe('/inspect?code=[redacted]&limit=5&State=[redacted]&access_token=[redacted]')
    expect(log.raw.join('')).not.toMatch(/secret-code|secret-state|tok-1/)
  })

  it('skip probe and scrape routes', async () => {
    const { app, log } = await contextApp()
    await app.inject({ method: 'GET', url: '/health/live' })
    await app.inject({ method: 'GET', url: '/metrics' })
    expect(byMessage(log.lines, 'request completed')).toEqual([])
  })
})

describe('client address behind proxies (TRUST_PROXY)', () => {
  const ipSeen = async (trustProxy: string | undefined) => {
    const built = await buildTestApp({ config: { ...TEST_CONFIG, TRUST_PROXY: trustProxy }, rateLimit: false })
    app = built.app
    app.get('/ip', async (request) => ({ ip: request.ip }))
    const res = await app.inject({
      method: 'GET',
      url: '/ip',
      remoteAddress: '10.0.0.5',
      headers: { 'x-forwarded-for': '198.51.100.7, 192.0.2.9' },
    })
    await app.close()
    app = undefined
    return res.json().ip
  }

  it('is the peer by default, the forwarded address of the trusted hops otherwise', async () => {
    expect(await ipSeen(undefined)).toBe('10.0.0.5')
    expect(await ipSeen('false')).toBe('10.0.0.5')
    expect(await ipSeen('1')).toBe('192.0.2.9')
    expect(await ipSeen('2')).toBe('198.51.100.7')
    expect(await ipSeen('10.0.0.0/8')).toBe('192.0.2.9')
    expect(await ipSeen('10.0.0.0/8,192.0.2.0/24')).toBe('198.51.100.7')
    expect(await ipSeen('true')).toBe('198.51.100.7')
  })
})
