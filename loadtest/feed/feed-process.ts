/**
 * The feed as the benchmarks run it: the API (src/server.ts) and, where it exists, the fan-out worker
 * (src/worker.ts), each its own process as under `npm start`, on a seeded schema, a vhost and Redis prefix of
 * their own, with a signing key made for the run. Access tokens for seeded users come from the operator's script
 * (scripts/sign-token.ts, `npm run feed:sign-token`) with that key: the service has no route that hands them out.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { Sql } from '@platform/db'
import {
  createTestVhost,
  type RunningProcess,
  redisPrefix,
  startTsProcess,
  type TestVhost,
  testUrls,
  waitFor,
} from '@platform/testing'
import { serviceNodeArgs } from '../../infra/scripts/lib/node-args.js'
import { freePort } from '../ingest/load.js'

const run = promisify(execFile)
const FEED = fileURLToPath(new URL('../../services/feed/', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface BenchFeed {
  url: string
  api: RunningProcess
  /** Undefined while the fan-out worker (src/worker.ts) is not built. */
  worker: RunningProcess | undefined
  vhost: TestVhost
  env: Record<string, string>
  /** Access tokens for `userIds`, in order, signed by scripts/sign-token.ts with the run's key. */
  sign(userIds: string[]): Promise<string[]>
  stop(): Promise<void>
}

/** A JWK Set of one new key, printed by `npm run feed:keys`. */
async function newSigningKeys(): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', `${FEED}scripts/keys.ts`], { cwd: ROOT })
  return stdout.trim()
}

export async function startFeed(schema: string, extraEnv: Record<string, string> = {}): Promise<BenchFeed> {
  const vhost = await createTestVhost('bench_feed')
  const port = await freePort()
  const urls = testUrls()
  const env: Record<string, string> = {
    PORT: String(port),
    // warn: per-request log lines would be part of the measurement
    LOG_LEVEL: 'warn',
    DATABASE_URL: urls.databaseUrl,
    DB_SCHEMA: schema,
    AMQP_URL: vhost.amqpUrl,
    REDIS_URL: urls.redisUrl,
    REDIS_PREFIX: redisPrefix('bench_feed'),
    CLICKHOUSE_URL: urls.clickhouseUrl,
    FEED_JWT_KEYS: await newSigningKeys(),
    // the per-client-address limit: every request of the run comes from 127.0.0.1
    RATE_LIMIT_MAX: '10000000',
    // one budget per user: the write scenarios send hundreds of commands per second from a few thousand users
    FEED_COMMAND_RATE_LIMIT_MAX: '10000000',
    // the worker's /metrics and health port: a free one, not npm start's 3006
    FEED_WORKER_PORT: String(await freePort()),
    ...extraEnv,
  }
  // With the Node flags it is deployed with (services/feed/package.json platform.nodeArgs), as npm start runs it.
  const api = startTsProcess(`${FEED}src/server.ts`, env, serviceNodeArgs('feed'))
  const workerFile = `${FEED}src/worker.ts`
  const worker = existsSync(workerFile) ? startTsProcess(workerFile, env, serviceNodeArgs('feed')) : undefined
  const url = `http://127.0.0.1:${port}`
  const stop = async () => {
    await Promise.all([api.kill('SIGTERM'), worker?.kill('SIGTERM')])
    await vhost.delete().catch(() => {})
  }
  try {
    await waitFor(async () => (await fetch(`${url}/health/ready`)).ok, { timeoutMs: 90_000, message: 'feed ready' })
  } catch (error) {
    console.error(`feed's last output:\n${api.output().split('\n').slice(-30).join('\n')}`)
    await stop()
    throw error
  }
  return {
    url,
    api,
    worker,
    vhost,
    env,
    sign: (userIds) => signTokens(userIds, env),
    stop,
  }
}

/**
 * Access tokens for `userIds`, in order, from scripts/sign-token.ts (`npm run feed:sign-token`) with `env`'s
 * FEED_JWT_KEYS: a few hundred ids per process, so the command line stays short.
 */
export async function signTokens(userIds: string[], env: Record<string, string | undefined>): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 0; i < userIds.length; i += 500) {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', `${FEED}scripts/sign-token.ts`, ...userIds.slice(i, i + 500), '--ttl', '86400'],
      { cwd: ROOT, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
    )
    tokens.push(...stdout.trim().split('\n'))
  }
  return tokens
}

/** Seeded users whose feeds are materialised (they have user_feed rows), in random order. */
export async function activeUsers(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql<{ user_id: string }[]>`
    select user_id from (select distinct user_id from user_feed) s order by random() limit ${limit}`
  return rows.map((r) => r.user_id)
}

/** Posts of the last day (what likes and the hot feed are about), in random order. */
export async function recentPosts(sql: Sql, limit: number): Promise<string[]> {
  const rows = await sql<{ id: string }[]>`
    select id from posts where created_at > now() - interval '1 day' order by random() limit ${limit}`
  return rows.map((r) => r.id)
}
