import { setTimeout as sleep } from 'node:timers/promises'
import { createRegistry } from '@platform/metrics'
import { afterEach, describe, expect, it } from 'vitest'
import { problemTypes, registryOf, runReadinessChecks, type ServiceApp } from '../index.js'
import { expectProblem } from '../lib/testing.js'
import { buildTestApp } from './helpers.js'

let app: ServiceApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

describe('health probes', () => {
  it('live is 200 and ready is 200 when every check passes', async () => {
    ;({ app } = await buildTestApp({ readiness: { postgres: async () => {}, rabbitmq: () => true } }))
    const live = await app.inject({ method: 'GET', url: '/health/live' })
    expect(live.statusCode).toBe(200)
    expect(live.json()).toEqual({ status: 'ok' })
    const ready = await app.inject({ method: 'GET', url: '/health/ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', rabbitmq: 'ok' } })
  })

  it('ready is a 503 problem naming the failed dependency, with no internals', async () => {
    let log: Awaited<ReturnType<typeof buildTestApp>>['log']
    ;({ app, log } = await buildTestApp({
      readiness: {
        postgres: async () => {
          throw new Error('connect ECONNREFUSED 10.1.2.3:5432')
        },
        rabbitmq: () => false,
        redis: async () => {},
      },
    }))
    const res = await app.inject({ method: 'GET', url: '/health/ready' })
    expectProblem(res, 503)
    expect(res.json()).toEqual({
      type: problemTypes.unavailable.type,
      title: 'Service Unavailable',
      status: 503,
      detail: 'Not ready: postgres, rabbitmq unavailable.',
      instance: '/health/ready',
      checks: { postgres: 'error', rabbitmq: 'unavailable', redis: 'ok' },
    })
    expect(res.body).not.toContain('ECONNREFUSED')
    // The cause is for operators: it is in the log.
    expect(JSON.stringify(log.lines.find((l) => l.msg === 'not ready'))).toContain('ECONNREFUSED')
  })

  it('checks run in parallel, each cut off at the timeout', async () => {
    const started = Date.now()
    const report = await runReadinessChecks(
      { slow: () => sleep(5_000), slower: () => sleep(5_000), fast: () => true },
      200,
    )
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(report).toMatchObject({ ready: false, checks: { slow: 'timeout', slower: 'timeout', fast: 'ok' } })
  })
})

describe('metrics', () => {
  it('serves Prometheus text with the request histogram labelled by route pattern', async () => {
    ;({ app } = await buildTestApp())
    await app.inject({ method: 'GET', url: '/items/123' })
    await app.inject({ method: 'GET', url: '/items/456' })
    await app.inject({ method: 'GET', url: '/no/such/thing/unknown-path-xyz' })

    const res = await app.inject({ method: 'GET', url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body
    expect(text).toContain('# TYPE http_request_duration_seconds histogram')
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="\/items\/:id",status_code="200"\} 2/)
    expect(text).toMatch(/http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1/)
    expect(text).not.toContain('/items/123')
    // Raw paths never become label values (a random process metric could contain any digits, so use a word).
    expect(text).not.toContain('unknown-path-xyz')
    // Default process metrics are registered on the service's own registry.
    expect(text).toContain('process_cpu_user_seconds_total')
  })

  it('registers the default metrics once when two apps share a registry', async () => {
    const registry = createRegistry()
    const a = await buildTestApp({ registry })
    const b = await buildTestApp({ registry })
    expect((await b.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200)
    await a.app.close()
    await b.app.close()
  })

  it('reports each readiness check at scrape time as readiness_check_ok, so an alert can name the failing one', async () => {
    let postgresUp = true
    ;({ app } = await buildTestApp({
      readiness: {
        postgres: async () => {
          if (!postgresUp) throw new Error('down')
        },
        rabbitmq: () => true,
      },
    }))
    const scrape = async () => (await app?.inject({ method: 'GET', url: '/metrics' }))?.body ?? ''
    expect(await scrape()).toMatch(/readiness_check_ok\{check="postgres"\} 1/)
    postgresUp = false
    const text = await scrape()
    expect(text).toMatch(/readiness_check_ok\{check="postgres"\} 0/)
    expect(text).toMatch(/readiness_check_ok\{check="rabbitmq"\} 1/)
  })

  it('gives tests the registry an app serves', async () => {
    const registry = createRegistry()
    ;({ app } = await buildTestApp({ registry }))
    expect(registryOf(app)).toBe(registry)
  })
})
