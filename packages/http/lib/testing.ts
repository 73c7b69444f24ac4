import { exposedMetrics, metricNamingProblems } from '@platform/metrics'
import {
  createTcpProxy,
  createTestSchema,
  createTestVhost,
  redisPrefix,
  type TcpProxy,
  type TestSchema,
  type TestVhost,
  testUrls,
  waitFor,
} from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServiceApp } from './app.js'

/**
 * Test support for services (imported as `@platform/http/testing`, from test files only): an isolated
 * environment per service and the checks every service must pass, so five services do not keep five copies.
 */
export interface ServiceTestEnv {
  /** Environment variables for the service's config loader or for a spawned server process. */
  env: Record<string, string>
  schema: TestSchema
  vhost: TestVhost
  /** Drops the schema and deletes the vhost. */
  cleanup(): Promise<void>
}

/** A schema, vhost and Redis prefix of the service's own; `overrides` replace any variable. */
export async function createServiceTestEnv(
  name: string,
  overrides: Record<string, string> = {},
): Promise<ServiceTestEnv> {
  const prefix = name.replace(/[^a-z0-9_]/g, '_')
  const [schema, vhost] = await Promise.all([createTestSchema(prefix), createTestVhost(prefix)])
  const urls = testUrls()
  return {
    env: {
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      DATABASE_URL: urls.databaseUrl,
      DB_SCHEMA: schema.schema,
      AMQP_URL: vhost.amqpUrl,
      REDIS_URL: urls.redisUrl,
      REDIS_PREFIX: redisPrefix(prefix),
      CLICKHOUSE_URL: urls.clickhouseUrl,
      ...overrides,
    },
    schema,
    vhost,
    async cleanup() {
      await Promise.allSettled([schema.drop(), vhost.delete()])
    },
  }
}

export interface ServiceBasicsOptions<C> {
  name: string
  loadConfig: (env: NodeJS.ProcessEnv) => C
  buildApp: (config: C) => Promise<ServiceApp>
  /** The readiness checks the service must report: its dependencies and its progress watchdogs (outboxRelay, ...). */
  dependencies: string[]
}

/** Fastify adds `charset=utf-8` to JSON subtypes; the media type is what RFC 9457 §3 asks for. */
const PROBLEM = /^application\/problem\+json(; charset=utf-8)?$/

/** What `app.inject` resolves with, as far as these checks read it. */
export interface InjectedResponse {
  statusCode: number
  headers: Record<string, unknown>
  json(): unknown
}

/** Asserts a problem+json response with `status` and, optionally, some of its members. */
export function expectProblem(res: InjectedResponse, status: number, members: Record<string, unknown> = {}): void {
  expect(res.statusCode).toBe(status)
  expect(res.headers['content-type']).toMatch(PROBLEM)
  expect(res.json()).toMatchObject({ type: expect.any(String), title: expect.any(String), status, ...members })
}

/**
 * One app, its PostgreSQL traffic through a TCP proxy the test can cut: ready, not ready naming postgres while
 * the database is unreachable, ready again after; migrations applied; /metrics; problem+json errors.
 */
export function describeServiceBasics<C>(options: ServiceBasicsOptions<C>): void {
  describe(`${options.name} service basics`, () => {
    let testEnv: ServiceTestEnv
    let proxy: TcpProxy
    let app: ServiceApp
    const ready = async () => {
      const res = await app.inject({ method: 'GET', url: '/health/ready' })
      return { status: res.statusCode, body: res.json() as { checks: Record<string, string> } }
    }

    beforeAll(async () => {
      const database = new URL(testUrls().databaseUrl)
      proxy = await createTcpProxy({ host: database.hostname, port: Number(database.port || 5432) })
      testEnv = await createServiceTestEnv(options.name, { DATABASE_URL: proxy.url(testUrls().databaseUrl) })
      app = await options.buildApp(options.loadConfig(testEnv.env))
    })

    afterAll(async () => {
      await app?.close()
      await proxy?.close()
      await testEnv?.cleanup()
    })

    it('applies its migrations and is ready once its dependencies answer', async () => {
      const { sql } = testEnv.schema
      const applied = await sql<{ id: string }[]>`select id from schema_migrations order by id`
      expect(applied.map((r) => r.id)).toContain('service/0001_init')
      const report = await waitFor(async () => {
        const r = await ready()
        return r.status === 200 ? r : undefined
      })
      expect(Object.keys(report.body.checks).sort()).toEqual([...options.dependencies].sort())
    })

    it('is not ready, naming postgres, while PostgreSQL is unreachable, and ready again after', async () => {
      await waitFor(async () => (await ready()).status === 200)
      proxy.cut()
      const down = await waitFor(async () => {
        const r = await ready()
        return r.status === 503 ? r : undefined
      })
      expect(down.body.checks.postgres).not.toBe('ok')
      expect(JSON.stringify(down.body)).toMatch(/Not ready: postgres/)
      proxy.restore()
      await waitFor(async () => (await ready()).status === 200, { message: 'ready again after restore' })
    })

    it('serves Prometheus metrics', async () => {
      await app.inject({ method: 'GET', url: '/health/live' })
      const res = await app.inject({ method: 'GET', url: '/metrics' })
      expect(res.statusCode).toBe(200)
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(res.body).toContain('http_request_duration_seconds_bucket')
      expect(res.body).toContain('route="/health/live"')
    })

    it('names every metric it exports by the convention (@platform/metrics naming.ts)', async () => {
      // Once ready, the relay and the consumers have registered theirs too.
      await waitFor(async () => (await ready()).status === 200)
      const metrics = exposedMetrics((await app.inject({ method: 'GET', url: '/metrics' })).body)
      expect(metrics.map((m) => m.name)).toContain('http_request_duration_seconds')
      expect(metricNamingProblems(metrics)).toEqual([])
    })

    it('answers an unknown route and a malformed JSON body with problem+json', async () => {
      const missing = await app.inject({ method: 'GET', url: '/no/such/route' })
      expectProblem(missing, 404, { instance: '/no/such/route' })
      const malformed = await app.inject({
        method: 'POST',
        url: '/no/such/route',
        headers: { 'content-type': 'application/json' },
        payload: '{"unterminated": ',
      })
      expectProblem(malformed, 400, { detail: 'The request body is not valid JSON.' })
    })
  })
}

export { type RawExchange, type RawResponse, rawExchange, rawRequest } from './raw-http.js'
export {
  describeMalformedRequests,
  MALFORMED_REQUESTS,
  type MalformedCase,
  type MalformedRequestsOptions,
} from './testing-malformed.js'
