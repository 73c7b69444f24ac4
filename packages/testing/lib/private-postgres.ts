import { execFile, execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { createTcpProxy, type TcpProxy } from './tcp-proxy.js'

const run = promisify(execFile)

/**
 * A PostgreSQL server of the test's own (initdb into a temporary folder, its own port), for fault tests that
 * restart the server or kill every backend: doing that to the shared server would break every other test file
 * running in parallel. Uses the Debian binaries (/usr/lib/postgresql/<version>/bin, or PG_BIN); as root, runs them
 * as the `postgres` user, since PostgreSQL refuses to run as root. Starts in about a second.
 */
export interface PrivatePostgres {
  /** Straight to the server: for the test's own checks, which the faults must not reach. */
  url: string
  port: number
  /** The TCP proxy in front of it (cut, blackhole, restore), and the URL through it: give that one to the code under test. */
  proxy: TcpProxy
  proxiedUrl: string
  /** `pg_ctl restart -m fast`, with `downMs` between stop and start (the server is unreachable meanwhile). */
  restart(downMs?: number): Promise<void>
  /** pg_terminate_backend on every client backend (optionally only those of one application_name). */
  terminateBackends(applicationName?: string): Promise<number>
  stop(): Promise<void>
}

function binDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'pg_ctl'))) return join(root, v, 'bin')
  throw new Error('no PostgreSQL binaries: install postgresql (Debian) or set PG_BIN')
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

export interface PrivatePostgresOptions {
  /**
   * Server settings (`-c name=value`) after the defaults, which they override: `fsync=off` (a test's data need not
   * survive a crash of the machine), `max_connections=100`. A benchmark gives the settings it is measured with
   * (loadtest/analytics: `shared_buffers`, `fsync=on`).
   */
  settings?: Record<string, string>
}

export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = binDir()
  const dir = mkdtempSync(join(tmpdir(), 'pg-private-'))
  const asRoot = process.getuid?.() === 0
  if (asRoot) chownSync(dir, Number((await run('id', ['-u', 'postgres'])).stdout.trim()), -1)
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args)
  const data = join(dir, 'data')
  const port = await freePort()
  await pg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'])
  const settings = { fsync: 'off', max_connections: '100', ...options.settings }
  for (const [name, value] of Object.entries(settings)) {
    if (!/^[a-z_]+$/.test(name) || !/^[A-Za-z0-9_.]+$/.test(value)) throw new Error(`bad setting ${name}=${value}`)
  }
  const serverOptions = [
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
    ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
  ].join(' ')
  const start = () => pg('pg_ctl', ['-D', data, '-o', serverOptions, '-l', join(dir, 'log'), '-w', 'start'])
  const stop = (mode: string) => pg('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop'])
  await start()
  // A test worker that dies (or forgets stop()) must not leave a postmaster running: pg_ctl on the way out.
  const onExit = () => {
    try {
      const args = ['-D', data, '-m', 'immediate', 'stop']
      if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', join(bin, 'pg_ctl'), ...args], { stdio: 'ignore' })
      else execFileSync(join(bin, 'pg_ctl'), args, { stdio: 'ignore' })
      rmSync(dir, { recursive: true, force: true })
    } catch {}
  }
  process.once('exit', onExit)
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const proxy = await createTcpProxy({ host: '127.0.0.1', port })
  return {
    url,
    port,
    proxy,
    proxiedUrl: proxy.url(url),
    async restart(downMs = 0) {
      await stop('fast')
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await start()
    },
    async terminateBackends(applicationName) {
      const admin = postgres(url, { max: 1, onnotice: () => {} })
      try {
        // Two steps: SQL does not promise to test `pid <> pg_backend_pid()` before calling pg_terminate_backend.
        const victims = await admin<{ pid: number }[]>`
          select pid from pg_stat_activity
          where pid <> pg_backend_pid() and backend_type = 'client backend'
            and (${applicationName ?? null}::text is null or application_name = ${applicationName ?? null})`
        const rows =
          await admin`select pg_terminate_backend(pid) from unnest(${victims.map((v) => v.pid)}::int[]) as pid`
        return rows.length
      } finally {
        await admin.end({ timeout: 1 })
      }
    },
    async stop() {
      process.off('exit', onExit)
      await proxy.close()
      await stop('immediate').catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
