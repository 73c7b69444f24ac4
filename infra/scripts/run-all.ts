/**
 * Runs the five services in the foreground (what `npm start` ends with): one child process per service, every output
 * line prefixed with the service's name, a summary of the URLs once they listen. With the feed (outside production)
 * it also runs the feed's DEVELOPMENT identity provider, `dev-idp` on port 3009, before it.
 *
 *   node --import tsx infra/scripts/run-all.ts [service ...]     (default: all that have src/server.ts)
 *
 * The services run under a supervisor (lib/supervisor.ts): one that dies is restarted on its own with a growing delay
 * while the others keep running; after RUN_ALL_MAX_CRASHES (5) crashes of one service within RUN_ALL_CRASH_WINDOW_MS
 * (60 s) it gives up, stops the others and this exits 1. SIGINT/SIGTERM/SIGHUP are passed on to every service,
 * which then has RUN_ALL_GRACE_MS (15 s) to exit before it is killed with SIGKILL; a second Ctrl-C (a second after
 * the first) kills at once. docs/operations.md ("npm start: the supervisor") lists every variable.
 *
 * RUN_ALL_BASE_PORT (3001) moves the ports (base, base + 1, ... in the order below) and RUN_ALL_SCHEMA_PREFIX
 * (none) prefixes each service's DB_SCHEMA, so a second run (a test's) can share this machine's PostgreSQL.
 *
 * A service's workers (processes without routes, WORKERS below: the feed's fan-out worker) run beside it as children
 * of their own, with the service's schema, and are supervised alike.
 *
 * Each service runs as `node --import tsx services/<name>/src/server.ts`: one process (tsx's CLI would add a parent
 * that SIGKILLs its child when the child does not acknowledge a signal within 30 ms).
 */
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serviceNodeArgs } from './lib/node-args.js'
import { type SupervisorSettings, settingsFromEnv, supervise } from './lib/supervisor.js'

interface Service {
  name: string
  port: number
  /** Its entry point; default services/<name>/src/server.ts. */
  entry?: string
}

/** A process of a service without routes (its own scaling), started beside the service's API when it exists. */
interface Worker {
  name: string
  service: string
  entry: string
  /** The variable of its metrics and health port, and that port (after the services' ports). */
  portVariable: string
  port: number
}

const BASE_PORT = Number(process.env.RUN_ALL_BASE_PORT || 3001)
const SERVICES: Service[] = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper'].map((name, i) => ({
  name,
  port: BASE_PORT + i,
}))
/**
 * The feed's DEVELOPMENT identity provider (services/feed/src/dev-idp, any login is accepted), run before the feed
 * whenever the feed runs outside production, on base + 8 (3009), so a newcomer can log in with no external account.
 * The feed finds it through FEED_DEV_IDP_URL, and it sends browsers back to FEED_PUBLIC_URL (docs/feed.md#login).
 */
const DEV_IDP: Service = {
  name: 'dev-idp',
  port: BASE_PORT + 8,
  entry: join('services', 'feed', 'src', 'dev-idp', 'server.ts'),
}
const portOf = (name: string) => SERVICES.find((s) => s.name === name)?.port
const WORKERS: Worker[] = [
  // the feed's fan-out worker (docs/feed.md#fan-out-worker): same schema and configuration as the feed's API
  {
    name: 'feed-worker',
    service: 'feed',
    entry: join('services', 'feed', 'src', 'worker.ts'),
    portVariable: 'FEED_WORKER_PORT',
    port: BASE_PORT + SERVICES.length,
  },
]
const SCHEMA_PREFIX = process.env.RUN_ALL_SCHEMA_PREFIX ?? ''
const READY_TIMEOUT_MS = Number(process.env.RUN_ALL_READY_TIMEOUT_MS || 90_000)

const root = fileURLToPath(new URL('../..', import.meta.url))
const tsxLoader = import.meta.resolve('tsx')

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text)
const COLORS = [36, 35, 33, 32, 34, 96, 95]
const NAMES = [...SERVICES.map((s) => s.name), DEV_IDP.name, ...WORKERS.map((w) => w.name)]
const width = Math.max(...NAMES.map((name) => name.length), 'run-all'.length)
const prefixOf = (name: string) => {
  const i = NAMES.indexOf(name)
  return `${paint(COLORS[i % COLORS.length] ?? 36, name.padEnd(width))} | `
}

const say = (line: string) => process.stdout.write(`${paint(1, 'run-all'.padEnd(width))} | ${line}\n`)
const warn = (line: string) => process.stderr.write(`${paint(1, 'run-all'.padEnd(width))} | ${paint(31, line)}\n`)

function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// Which services: the names given, else all; those without an entry point yet are skipped with a warning.
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !SERVICES.some((s) => s.name === name))
if (unknown.length > 0) {
  warn(`unknown service(s): ${unknown.join(', ')} (known: ${SERVICES.map((s) => s.name).join(', ')})`)
  process.exit(2)
}
const selected = SERVICES.filter((s) => wanted.length === 0 || wanted.includes(s.name))
const entry = (s: Service) => s.entry ?? join('services', s.name, 'src', 'server.ts')
for (const s of selected.filter((s) => !existsSync(join(root, entry(s))))) {
  warn(`${entry(s)} does not exist (yet): ${s.name} is not started`)
}
const toRun = selected.filter((s) => existsSync(join(root, entry(s))))
const feedAt = toRun.findIndex((s) => s.name === 'feed')
if (feedAt >= 0 && process.env.NODE_ENV !== 'production') toRun.splice(feedAt, 0, DEV_IDP)
if (toRun.length === 0) {
  warn('no service to start')
  process.exit(1)
}
for (const s of toRun) {
  if (await listening(s.port)) warn(`port ${s.port} is already in use (another run?): ${s.name} will fail to listen`)
}

let settings: SupervisorSettings
try {
  settings = settingsFromEnv(process.env)
} catch (error) {
  warn((error as Error).message)
  process.exit(2)
}

const { PORT: _port, DB_SCHEMA: _schema, ...baseEnv } = process.env
const child = (name: string, service: Service, file: string, extraEnv: Record<string, string> = {}) => ({
  name,
  command: process.execPath,
  args: [...serviceNodeArgs(service.name), '--import', tsxLoader, file],
  cwd: root,
  env: {
    ...baseEnv,
    PORT: String(service.port),
    FEED_DEV_IDP_URL: process.env.FEED_DEV_IDP_URL || `http://127.0.0.1:${DEV_IDP.port}`,
    FEED_PUBLIC_URL: process.env.FEED_PUBLIC_URL || `http://127.0.0.1:${portOf('feed')}`,
    ...(SCHEMA_PREFIX ? { DB_SCHEMA: `${SCHEMA_PREFIX}${service.name.replaceAll('-', '_')}` } : {}),
    ...(useColor ? { FORCE_COLOR: '1' } : {}),
    ...extraEnv,
  },
})
const workers = WORKERS.flatMap((w) => {
  const service = toRun.find((s) => s.name === w.service)
  return service && existsSync(join(root, w.entry))
    ? [child(w.name, service, w.entry, { [w.portVariable]: String(w.port) })]
    : []
})
const supervisor = supervise(
  [...toRun.map((service) => child(service.name, service, entry(service))), ...workers],
  settings,
  {
    output: (name, stream, line) =>
      (stream === 'stdout' ? process.stdout : process.stderr).write(`${prefixOf(name)}${line}\n`),
    info: say,
    warn,
  },
)

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    const stoppingSince = supervisor.stoppingSince()
    if (stoppingSince === undefined) {
      supervisor.stop(signal === 'SIGHUP' ? 'SIGTERM' : signal, `received ${signal}`)
    } else if (Date.now() - stoppingSince > 1000) {
      // (npm passes a terminal's Ctrl-C on as well, so one arrives twice within milliseconds: not a second Ctrl-C)
      supervisor.kill(`second ${signal}`)
    }
  })
}
// Whatever happens to this process, it does not leave the services running behind it.
process.on('exit', () => supervisor.signalAll('SIGTERM'))
void supervisor.done.then((code) => {
  say(code === 0 ? 'all services stopped' : 'stopped, with errors')
  process.exit(code)
})

// Where everything is, once the services listen.
const deadline = Date.now() + READY_TIMEOUT_MS
const pending = new Set(toRun)
while (pending.size > 0 && Date.now() < deadline && supervisor.stoppingSince() === undefined) {
  for (const service of [...pending]) {
    if (await listening(service.port)) {
      pending.delete(service)
      say(`${service.name} listens on http://127.0.0.1:${service.port}`)
    }
  }
  if (pending.size > 0) await sleep(250)
}
if (supervisor.stoppingSince() === undefined) {
  const rows = [
    ...toRun.map((s) => [s.name, `http://127.0.0.1:${s.port}${pending.has(s) ? '   (not listening yet)' : ''}`]),
    ['RabbitMQ UI', 'http://127.0.0.1:15672   (guest / guest)'],
    ['ClickHouse', 'http://127.0.0.1:8123   (user default, no password)'],
  ]
  const w = Math.max(...rows.map(([name]) => name?.length ?? 0))
  say('')
  for (const [name, url] of rows) say(`  ${paint(1, (name ?? '').padEnd(w))}  ${url}`)
  say(`  Ctrl-C stops everything`)
  say('')
}
