import SwaggerParser from '@apidevtools/swagger-parser'
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
import { PROBLEM_CONTENT_TYPE } from './errors.js'
import { DOCS_PREFIX, isDocsRoute, registeredRoutes } from './openapi.js'

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

/** `/v1/webhooks/:source` as OpenAPI writes it, `/v1/webhooks/{source}` (what @fastify/swagger's formatParamUrl does). */
const openApiPath = (url: string) => url.replace(/:(\w+)(\([^)]*\))?/g, '{$1}').replace(/\*/g, '{*}')

interface OpenApiOperation {
  summary?: string
  security?: Record<string, string[]>[]
  responses: Record<string, { content?: Record<string, unknown> }>
}

interface OpenApiDocument {
  openapi: string
  info: { title: string; version: string }
  paths: Record<string, Record<string, OpenApiOperation>>
  components?: { securitySchemes?: Record<string, unknown> }
}

/**
 * The app's OpenAPI document at /docs/json is valid (@apidevtools/swagger-parser: the OpenAPI 3.1 schema and its
 * rules) and complete: every registered route is in it with its method, and every operation answers its errors as
 * problem+json. Deliberately left out: the /docs routes (Swagger UI and the document itself), and the HEAD route
 * Fastify adds beside each GET (exposeHeadRoutes), which the GET documents. /docs answers Swagger UI's HTML.
 * Returns the document for further checks.
 */
export async function expectCompleteOpenApi(app: ServiceApp): Promise<OpenApiDocument> {
  const res = await app.inject({ method: 'GET', url: `${DOCS_PREFIX}/json` })
  expect(res.statusCode).toBe(200)
  const document = res.json() as OpenApiDocument
  // validate() dereferences the object it is given: a copy, so the checks below read the document as served.
  await SwaggerParser.validate(structuredClone(document) as never)
  expect(document.openapi).toMatch(/^3\.1\./)

  const routes = registeredRoutes(app)
  const gets = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url))
  const expected = routes.filter((r) => !isDocsRoute(r.url) && !(r.method === 'HEAD' && gets.has(r.url)))
  expect(expected.length).toBeGreaterThan(0)
  const missing = expected
    .filter(({ method, url }) => document.paths[openApiPath(url)]?.[method.toLowerCase()] === undefined)
    .map(({ method, url }) => `${method} ${url}`)
  expect(missing, 'routes missing from /docs/json').toEqual([])

  const declared = new Set(Object.keys(document.components?.securitySchemes ?? {}))
  for (const [path, item] of Object.entries(document.paths)) {
    expect(isDocsRoute(path), `${path} is hidden`).toBe(false)
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`
      for (const range of ['4XX', '5XX']) {
        expect(operation.responses[range]?.content, `${where} ${range}`).toHaveProperty([PROBLEM_CONTENT_TYPE])
      }
      for (const name of (operation.security ?? []).flatMap(Object.keys)) {
        expect(declared.has(name), `${where} names the undeclared security scheme ${name}`).toBe(true)
      }
    }
  }

  const ui = await app.inject({ method: 'GET', url: DOCS_PREFIX })
  expect(ui.statusCode).toBe(200)
  expect(ui.headers['content-type']).toMatch(/^text\/html/)
  expect(ui.body).toContain('swagger-ui')
  return document
}

/**
 * One app, its PostgreSQL traffic through a TCP proxy the test can cut: ready, not ready naming postgres while
 * the database is unreachable, ready again after; migrations applied; /metrics; problem+json errors; its OpenAPI
 * document, valid and listing every route (expectCompleteOpenApi).
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

    it('serves a valid OpenAPI document listing every route, and Swagger UI at /docs', async () => {
      const document = await expectCompleteOpenApi(app)
      expect(document.info.title).toBe(options.name)
      // The service's package.json version (createService reads it), not the generator's placeholder.
      expect(document.info.version).toMatch(/^\d+\.\d+\.\d+/)
      expect(document.info.version).not.toBe('0.0.0')
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
