import { connect } from 'node:net'
import { testUrls } from './env.js'

/**
 * Vitest global setup. Tests use the services at the URLs in the environment (local defaults). Only when nothing
 * listens at a URL and a Docker engine answers does it start that service with testcontainers; the containers'
 * URLs are exported through process.env, which the test workers inherit.
 */
export function listening(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

interface Needed {
  env: string
  url: string
  start: () => Promise<{ url: string; stop: () => Promise<unknown>; extra?: Record<string, string> }>
}

export default async function setup(): Promise<() => Promise<void>> {
  // Unit tests need no services (infra/scripts/test.sh unit sets TEST_TIER).
  if (process.env.TEST_TIER === 'unit') return async () => {}
  const urls = testUrls()
  const { GenericContainer, Wait } = await import('testcontainers')
  const needed: Needed[] = [
    {
      env: 'DATABASE_URL',
      url: urls.databaseUrl,
      start: async () => {
        const c = await new GenericContainer('postgres:17')
          .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
          .withExposedPorts(5432)
          .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
          .start()
        return { url: `postgres://postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`, stop: () => c.stop() }
      },
    },
    {
      env: 'REDIS_URL',
      url: urls.redisUrl,
      start: async () => {
        const c = await new GenericContainer('redis:7').withExposedPorts(6379).start()
        return { url: `redis://${c.getHost()}:${c.getMappedPort(6379)}`, stop: () => c.stop() }
      },
    },
    {
      env: 'AMQP_URL',
      url: urls.amqpUrl,
      start: async () => {
        const c = await new GenericContainer('rabbitmq:4-management')
          .withExposedPorts(5672, 15672)
          .withCommand([
            'bash',
            '-c',
            'rabbitmq-plugins enable --offline rabbitmq_shovel rabbitmq_shovel_management && rabbitmq-server',
          ])
          .withWaitStrategy(Wait.forLogMessage(/Server startup complete/))
          .start()
        return {
          url: `amqp://guest:guest@${c.getHost()}:${c.getMappedPort(5672)}`,
          extra: { RABBITMQ_MANAGEMENT_URL: `http://guest:guest@${c.getHost()}:${c.getMappedPort(15672)}` },
          stop: () => c.stop(),
        }
      },
    },
    {
      env: 'CLICKHOUSE_URL',
      url: urls.clickhouseUrl,
      start: async () => {
        const c = await new GenericContainer('clickhouse/clickhouse-server:latest')
          .withEnvironment({ CLICKHOUSE_SKIP_USER_SETUP: '1' })
          .withExposedPorts(8123)
          .withWaitStrategy(Wait.forHttp('/ping', 8123))
          .start()
        return { url: `http://${c.getHost()}:${c.getMappedPort(8123)}`, stop: () => c.stop() }
      },
    },
  ]

  const stops: (() => Promise<unknown>)[] = []
  let docker: boolean | undefined
  for (const service of needed) {
    const u = new URL(service.url)
    const port = Number(u.port || (u.protocol.startsWith('amqp') ? 5672 : u.protocol.startsWith('redis') ? 6379 : 80))
    if (await listening(u.hostname, port)) continue
    docker ??= await dockerAnswers()
    if (!docker) {
      throw new Error(
        `nothing listens at ${service.env}=${u.protocol}//${u.host} and no Docker engine answers: ` +
          'run `bash infra/scripts/ensure-infra.sh` (or `npm test`, which does) first',
      )
    }
    const started = await service.start()
    process.env[service.env] = started.url
    for (const [k, v] of Object.entries(started.extra ?? {})) process.env[k] = v
    stops.push(started.stop)
  }
  return async () => {
    await Promise.allSettled(stops.map((stop) => stop()))
  }
}
