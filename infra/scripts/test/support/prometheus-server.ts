import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { waitFor } from '../../../../packages/testing/index.js'
import { CONFIG_FILE, RULES_FILE } from '../../lib/prometheus.js'

/**
 * A real Prometheus (Debian's 2.42, /usr/bin/prometheus) on a free port with storage of its own, running the
 * project's infra/prometheus/prometheus.yml and alerts.yml with a test's targets in place of the compose hosts, and
 * scrape and evaluation every second instead of 15 s. Only the jobs given targets are kept (a job without one would
 * fire ServiceDown). RabbitMQ's per-queue job asks for one vhost: the broker is shared by every test file.
 */
export const PROMETHEUS =
  ['/usr/bin/prometheus', '/usr/local/bin/prometheus'].find((p) => existsSync(p)) ?? 'prometheus'

export interface PrometheusAlert {
  labels: Record<string, string>
  state: 'pending' | 'firing'
  value: string
}

export interface RunningPrometheus {
  url: string
  alerts(): Promise<PrometheusAlert[]>
  /** An instant query's result: one entry per series. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>
  targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]>
  /** Resolves once every rule group has been evaluated after `since` (so the alerts reflect what was scraped). */
  evaluatedAfter(since: Date): Promise<void>
  output(): string
  stop(): Promise<void>
}

interface ScrapeConfig {
  job_name: string
  params?: Record<string, string[]>
  static_configs: { targets: string[] }[]
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (!address || typeof address === 'string') throw new Error('no port')
  return address.port
}

export async function startPrometheus(options: {
  /** job name -> host:port, for the jobs of prometheus.yml to keep. */
  targets: Record<string, string>
  /** The vhost whose queues the rabbitmq-queues job scrapes. */
  vhost: string
}): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-test-'))
  const config = parse(readFileSync(CONFIG_FILE, 'utf8')) as {
    global: Record<string, string>
    rule_files: string[]
    scrape_configs: ScrapeConfig[]
  }
  config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }
  config.rule_files = [RULES_FILE]
  config.scrape_configs = config.scrape_configs
    .filter((job) => options.targets[job.job_name])
    .map((job) => ({
      ...job,
      static_configs: [{ targets: [options.targets[job.job_name] as string] }],
      ...(job.job_name === 'rabbitmq-queues' ? { params: { ...job.params, vhost: [options.vhost] } } : {}),
    }))
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config))

  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let output = ''
  const child: ChildProcess = spawn(
    PROMETHEUS,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const keep = (chunk: Buffer) => {
    output = `${output}${chunk}`.slice(-20_000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  // A process that could not start emits 'error' and maybe no 'exit'.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve())
    child.once('error', () => resolve())
  })
  child.once('error', (error) => {
    output += `${PROMETHEUS}: ${error.message} (Debian's \`prometheus\` package; infra/scripts/ensure-infra.sh installs it)\n`
  })
  const killOnExit = () => child.kill('SIGKILL')
  process.once('exit', killOnExit)

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`)
    const body = (await res.json()) as { status: string; data: T; error?: string }
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`)
    return body.data
  }
  const running: RunningPrometheus = {
    url,
    alerts: async () => (await api<{ alerts: PrometheusAlert[] }>('/api/v1/alerts')).alerts,
    query: async (expr) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(expr)}`,
        )
      ).result,
    targets: async () =>
      (
        await api<{ activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }>(
          '/api/v1/targets',
        )
      ).activeTargets,
    async evaluatedAfter(since) {
      await waitFor(
        async () => {
          const { groups } = await api<{ groups: { lastEvaluation: string }[] }>('/api/v1/rules')
          return groups.length > 0 && groups.every((g) => new Date(g.lastEvaluation) > since)
        },
        { timeoutMs: 15_000, intervalMs: 200, message: `every rule group evaluated after ${since.toISOString()}` },
      )
    },
    output: () => output,
    async stop() {
      process.removeListener('exit', killOnExit)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`)).ok, { timeoutMs: 30_000, message: 'prometheus ready' })
  } catch (error) {
    await running.stop()
    throw new Error(`${(error as Error).message}\n${output}`)
  }
  return running
}
