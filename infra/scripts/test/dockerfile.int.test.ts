import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
// Relative imports: the repository root has no @platform/* dependencies of its own (as in run-all.ts).
import {
  createTestSchema,
  createTestVhost,
  redisPrefix,
  type TestSchema,
  type TestVhost,
  testUrls,
  waitFor,
} from '../../../packages/testing/index.js'
import { type OtlpReceiver, startOtlpReceiver } from '../../../packages/tracing/lib/testing.js'
import { type ReplayResult, replayDockerfile } from '../lib/dockerfile-replay.js'

/**
 * `docker build .` without a Docker engine: the Dockerfile's COPY steps replayed into a scratch folder (less
 * .dockerignore), its install and build RUN steps run there with this machine's pnpm and store, then the image's
 * CMD started from the final stage's files against this machine's PostgreSQL, RabbitMQ and Redis. It fails on what
 * broke `docker compose up --build` before: `pnpm fetch` run before patches/ was copied (ERR_PNPM_PATCH_NOT_FOUND),
 * a file the runtime needs left out of the final stage, a service that needs a devDependency (tsx) to start.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url))
const SERVICES = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper']
const TEST_ONLY = ['vitest', 'tsx', 'testcontainers', 'autocannon', 'typescript', '@biomejs', 'fast-check', 'stripe']

let scratch: string
let image: ReplayResult
let schema: TestSchema
let vhost: TestVhost
let service: ChildProcess | undefined
let output = ''
let receiver: OtlpReceiver | undefined

/** A `pnpm` of the version package.json names (infra/scripts/bootstrap.sh finds it), for RUN's PATH. */
function pnpmBinDir(): { binDir: string; store: string } {
  const command = execFileSync('bash', [join(root, 'infra/scripts/bootstrap.sh')], {
    cwd: root,
    env: { ...process.env, BOOTSTRAP_SKIP_INSTALL: '1' },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim()
  const binDir = join(scratch, 'bin')
  rmSync(binDir, { recursive: true, force: true })
  execFileSync('mkdir', ['-p', binDir])
  writeFileSync(join(binDir, 'pnpm'), `#!/bin/sh\nexec ${command} "$@"\n`, { mode: 0o755 })
  // the store the dependencies of this checkout came from: `pnpm store path` names its versioned folder (…/v10)
  const storePath = execFileSync(join(binDir, 'pnpm'), ['store', 'path'], { cwd: root, encoding: 'utf8' }).trim()
  return { binDir, store: /^v\d+$/.test(basename(storePath)) ? dirname(storePath) : storePath }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'dockerfile-replay-'))
  const { binDir, store } = pnpmBinDir()
  ;[schema, vhost] = await Promise.all([createTestSchema('docker'), createTestVhost('docker')])
  image = replayDockerfile({
    context: root,
    scratch: join(scratch, 'stages'),
    caches: { '/pnpm/store': store },
    binDir,
    // pnpm itself: the replay runs this machine's (above) instead of installing one through corepack
    skip: (command) => command.includes('corepack'),
    runTimeoutS: 150,
  })
}, 240_000)

afterAll(async () => {
  if (service && service.exitCode === null) service.kill('SIGKILL')
  await Promise.allSettled([schema?.drop(), vhost?.delete(), receiver?.close()])
  if (scratch) rmSync(scratch, { recursive: true, force: true })
})

describe('the Dockerfile, replayed without Docker', () => {
  it('skips only the step that installs pnpm', () => {
    expect(image.skipped).toHaveLength(1)
  })

  it('leaves compiled services, their migrations and production dependencies only in the final stage', () => {
    for (const name of SERVICES) {
      expect(existsSync(image.inImage(`services/${name}/dist/server.js`)), `${name}/dist/server.js`).toBe(true)
      expect(readdirSync(image.inImage(`services/${name}/migrations`)).length, `${name} migrations`).toBeGreaterThan(0)
    }
    expect(existsSync(image.inImage('packages/outbox/dist/lib/relay-thread-worker.js'))).toBe(true)
    expect(existsSync(image.inImage('services/ingest/src/server.ts')), 'no TypeScript sources').toBe(false)
    const installed = readdirSync(image.inImage('node_modules/.pnpm'))
    expect(installed.filter((dir) => TEST_ONLY.some((name) => dir.startsWith(`${name.replace('/', '+')}@`)))).toEqual(
      [],
    )
    expect(installed.some((dir) => dir.startsWith('fastify@'))).toBe(true)
  })

  it("has in the final stage the entry point of every docker-compose.yml service's command", () => {
    const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { command?: string[] }>
    }
    for (const name of SERVICES) {
      const entry = compose.services[name]?.command?.find((arg) => arg.endsWith('.js'))
      expect(entry, `${name}'s command`).toBe(`services/${name}/dist/server.js`)
      expect(existsSync(image.inImage(entry as string)), entry).toBe(true)
    }
  })

  it("starts the image's CMD (ingest, from JavaScript), which answers /health/live, gets ready and traces", async () => {
    // Tracing on, so the compiled @platform/tracing and the SDK among the production dependencies load too, on the
    // main thread and on the relay's.
    receiver = await startOtlpReceiver()
    const [command, ...args] = image.final.cmd ?? []
    expect(command).toBe('node')
    service = spawn(process.execPath, args, {
      cwd: image.inImage('.'),
      // the image's ENV (NODE_ENV, NODE_OPTIONS=--conditions=compiled, ...), then this test's own infrastructure
      env: {
        PATH: process.env.PATH,
        ...image.final.env,
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        DATABASE_URL: testUrls().databaseUrl,
        DB_SCHEMA: schema.schema,
        AMQP_URL: vhost.amqpUrl,
        REDIS_URL: testUrls().redisUrl,
        REDIS_PREFIX: redisPrefix('docker'),
        SHUTDOWN_TIMEOUT_MS: '5000',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    service.stdout?.on('data', (chunk: Buffer) => (output += chunk))
    service.stderr?.on('data', (chunk: Buffer) => (output += chunk))
    const url = await waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1], {
      timeoutMs: 30_000,
      message: `ingest listening (output: ${output.slice(-2000)})`,
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${output.slice(-3000)}`)
    })
    expect((await fetch(`${url}/health/live`)).status).toBe(200)
    // PostgreSQL, RabbitMQ and Redis answer; the outbox relay's worker thread (compiled, loaded without tsx) runs
    const ready = async () =>
      (await fetch(`${url}/health/ready`)).status === 200 && output.includes('the outbox relay thread is running')
    await waitFor(ready, { timeoutMs: 30_000 }).catch((error: Error) => {
      throw new Error(`${error.message}\n${output.slice(-3000)}`)
    })
    const traced = await fetch(`${url}/v1/webhooks/no-such-source`, { method: 'POST', body: '{}' })
    const traceId = traced.headers.get('x-correlation-id') ?? ''
    expect(traceId).toMatch(/^[0-9a-f]{32}$/)
    await waitFor(() => receiver?.trace(traceId).some((s) => s.service === 'ingest' && s.kind === 2), {
      timeoutMs: 10_000,
      message: 'the server span of a request, exported by the image',
    })
    expect(output).toContain('tracing on')
    expect(output).not.toContain('tracing: the OpenTelemetry SDK reported a problem')
    const exited = new Promise((resolve) => service?.once('exit', (code, signal) => resolve(code ?? signal)))
    service.kill('SIGTERM')
    expect(await exited).toBe(0)
  }, 90_000)
})
