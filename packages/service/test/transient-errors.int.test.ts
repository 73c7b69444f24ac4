import { createServer } from 'node:net'
import { createSql, type Sql, withDeadline } from '@platform/db'
import { buildServiceApp, createRedis, type ServiceApp } from '@platform/http'
import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import { createTcpProxy, type TcpProxy, testUrls } from '@platform/testing'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * A route whose PostgreSQL or Redis is unreachable or too slow answers 503 with Retry-After (@platform/http
 * transient.ts), for every service, without the route doing anything; a permanent database error stays a 500.
 * Real clients against a closed port and a cut TCP proxy: the errors are the ones postgres.js and ioredis raise.
 */
const urls = testUrls()
let app: ServiceApp
let proxy: TcpProxy
const sqls: Sql[] = []
let redis: Redis

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function sqlAt(url: string, options: { statementTimeoutMs?: number } = {}): Sql {
  const sql = createSql({ url, schema: 'public', max: 1, connectTimeoutSeconds: 2, ...options })
  sqls.push(sql)
  return sql
}

function withPort(url: string, port: number): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(port)
  return u.toString()
}

beforeAll(async () => {
  const pg = new URL(urls.databaseUrl)
  proxy = await createTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) })
  const port = await closedPort()
  const refused = sqlAt(withPort(urls.databaseUrl, port))
  const throughProxy = sqlAt(proxy.url(urls.databaseUrl))
  const slow = sqlAt(urls.databaseUrl, { statementTimeoutMs: 50 })
  const real = sqlAt(urls.databaseUrl)
  redis = createRedis({ REDIS_URL: withPort(urls.redisUrl, port), REDIS_PREFIX: 'transient-test:' })
  await throughProxy`select 1`

  app = await buildServiceApp({
    service: 'transient-test',
    config: { BODY_LIMIT_BYTES: 1024, RATE_LIMIT_MAX: 1000, RATE_LIMIT_WINDOW_MS: 60_000, REDIS_PREFIX: 'unused:' },
    logger: createLogger({ service: 'transient-test', level: 'silent' }),
    registry: createRegistry(),
    rateLimit: false,
  })
  app.get('/pg/refused', async () => refused`select 1`)
  app.get('/pg/cut', async () => throughProxy`select 1`)
  app.get('/pg/statement-timeout', async () => slow`select pg_sleep(2)`)
  app.get('/pg/deadline', async () => withDeadline(real`select pg_sleep(2)`.execute(), 50, 'a slow read'))
  app.get('/pg/unique', async () =>
    real.begin(async (tx) => {
      await tx`create temp table transient_test (x int primary key) on commit drop`
      await tx`insert into transient_test values (1), (1)`
    }),
  )
  app.get('/pg/bad-input', async () => real`select ${'not a number'}::int`)
  app.get('/redis/refused', async () => redis.get('k'))
})

afterAll(async () => {
  await app?.close()
  redis?.disconnect()
  await Promise.all(sqls.map((sql) => sql.end({ timeout: 1 })))
  await proxy?.close()
})

async function expectUnavailable(url: string) {
  const res = await app.inject({ method: 'GET', url })
  expect(res.statusCode, res.body).toBe(503)
  expect(res.headers['retry-after']).toBe('1')
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.json()).toMatchObject({ status: 503, type: expect.stringMatching(/service-unavailable$/) })
}

describe('transient dependency errors', () => {
  it('answers 503 with Retry-After when PostgreSQL refuses the connection', () => expectUnavailable('/pg/refused'))

  it('answers 503 when the connection to PostgreSQL is cut', async () => {
    proxy.cut()
    await expectUnavailable('/pg/cut')
  })

  it('answers 503 for a statement cancelled by statement_timeout (57014)', () =>
    expectUnavailable('/pg/statement-timeout'))

  it("answers 503 for @platform/db's client-side deadline", () => expectUnavailable('/pg/deadline'))

  it('answers 503 when Redis is unreachable', () => expectUnavailable('/redis/refused'))

  it('keeps a permanent database error a 500 without Retry-After', async () => {
    for (const url of ['/pg/unique', '/pg/bad-input']) {
      const res = await app.inject({ method: 'GET', url })
      expect(res.statusCode, url).toBe(500)
      expect(res.headers['retry-after']).toBeUndefined()
    }
  })
})
