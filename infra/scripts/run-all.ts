/**
 * Runs the five services in the foreground (what `npm start` ends with): one child process per service, every output
 * line prefixed with the service's name, a summary of the URLs once they listen.
 *
 *   node --import tsx infra/scripts/run-all.ts [service ...]     (default: all that have src/server.ts)
 *
 * SIGINT/SIGTERM/SIGHUP are passed on to every service, which then has RUN_ALL_GRACE_MS (15 s) to exit before it is
 * killed with SIGKILL; a second Ctrl-C (a second after the first) kills at once. When a service dies on its own, the
 * others are stopped and this exits 1.
 *
 * Each service runs as `node --import tsx services/<name>/src/server.ts` in a process group of its own: one process
 * (tsx's CLI would add a parent that SIGKILLs its child when the child does not acknowledge a signal within 30 ms),
 * and a terminal's Ctrl-C reaches the services once, through here, rather than twice (a second signal makes a
 * close-with-grace shutdown give up).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

interface Service {
  name: string
  port: number
}

const SERVICES: Service[] = [
  { name: 'ingest', port: 3001 },
  { name: 'feed', port: 3002 },
  { name: 'analytics', port: 3003 },
  { name: 'processor', port: 3004 },
  { name: 'log-shipper', port: 3005 },
]
const GRACE_MS = Number(process.env.RUN_ALL_GRACE_MS || 15_000)
const READY_TIMEOUT_MS = Number(process.env.RUN_ALL_READY_TIMEOUT_MS || 90_000)

const root = fileURLToPath(new URL('../..', import.meta.url))
const tsxLoader = import.meta.resolve('tsx')

/**
 * Node flags a service asks for in its package.json (`"platform": { "nodeArgs": [...] }`), e.g. ingest's larger
 * young generation (docs/adr/0008-ingest-group-commit.md). docker-compose.yml repeats them in its commands.
 */
function nodeArgsOf(name: string): string[] {
  const manifest = JSON.parse(readFileSync(join(root, 'services', name, 'package.json'), 'utf8')) as {
    platform?: { nodeArgs?: string[] }
  }
  return manifest.platform?.nodeArgs ?? []
}

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR
const paint = (code: number, text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text)
const COLORS = [36, 35, 33, 32, 34, 96, 95]
const width = Math.max(...SERVICES.map((s) => s.name.length), 'run-all'.length)

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
const entry = (s: Service) => join('services', s.name, 'src', 'server.ts')
for (const s of selected.filter((s) => !existsSync(join(root, entry(s))))) {
  warn(`${entry(s)} does not exist (yet): ${s.name} is not started`)
}
const toRun = selected.filter((s) => existsSync(join(root, entry(s))))
if (toRun.length === 0) {
  warn('no service to start')
  process.exit(1)
}
for (const s of toRun) {
  if (await listening(s.port)) warn(`port ${s.port} is already in use (another run?): ${s.name} will fail to listen`)
}

interface Running {
  service: Service
  child: ChildProcess
  exited: boolean
}
const running: Running[] = []
let stoppingSince: number | undefined
let killTimer: NodeJS.Timeout | undefined
let exitCode = 0

function signalGroup(r: Running, signal: NodeJS.Signals) {
  if (r.exited || r.child.pid === undefined) return
  try {
    process.kill(-r.child.pid, signal) // the whole process group
  } catch {
    r.child.kill(signal)
  }
}

function killAll(why: string) {
  const left = running.filter((r) => !r.exited)
  if (left.length === 0) return
  warn(`${why}: SIGKILL to ${left.map((r) => r.service.name).join(', ')}`)
  exitCode = 1
  for (const r of left) signalGroup(r, 'SIGKILL')
}

function stopAll(signal: NodeJS.Signals, why: string) {
  if (stoppingSince !== undefined) return
  stoppingSince = Date.now()
  const left = running.filter((r) => !r.exited)
  say(
    `${why}: ${signal} to ${left.map((r) => r.service.name).join(', ') || 'nobody'}, waiting up to ${GRACE_MS / 1000} s`,
  )
  for (const r of left) signalGroup(r, signal)
  killTimer = setTimeout(() => killAll(`still running after ${GRACE_MS / 1000} s`), GRACE_MS)
  killTimer.unref()
  finishIfDone()
}

function finishIfDone() {
  if (running.some((r) => !r.exited)) return
  clearTimeout(killTimer)
  say(exitCode === 0 ? 'all services stopped' : 'stopped, with errors')
  process.exit(exitCode)
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (stoppingSince === undefined) {
      stopAll(signal === 'SIGHUP' ? 'SIGTERM' : signal, `received ${signal}`)
    } else if (Date.now() - stoppingSince > 1000) {
      // (npm passes a terminal's Ctrl-C on as well, so one arrives twice within milliseconds: not a second Ctrl-C)
      killAll(`second ${signal}`)
    }
  })
}
// Whatever happens to this process, it does not leave the services running behind it.
process.on('exit', () => {
  for (const r of running) signalGroup(r, 'SIGTERM')
})

toRun.forEach((service, i) => {
  const color = COLORS[i % COLORS.length] ?? 36
  const prefix = `${paint(color, service.name.padEnd(width))} | `
  const { PORT: _ignored, ...env } = process.env
  const child = spawn(process.execPath, [...nodeArgsOf(service.name), '--import', tsxLoader, entry(service)], {
    cwd: root,
    env: { ...env, PORT: String(service.port), ...(useColor ? { FORCE_COLOR: '1' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const r: Running = { service, child, exited: false }
  running.push(r)
  createInterface({ input: child.stdout! }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`))
  createInterface({ input: child.stderr! }).on('line', (line) => process.stderr.write(`${prefix}${line}\n`))
  child.once('error', (error) => warn(`${service.name}: could not start: ${error.message}`))
  child.once('close', (code, signal) => {
    r.exited = true
    const how = signal ? `killed by ${signal}` : `exited with code ${code}`
    if (stoppingSince === undefined) {
      exitCode = 1
      warn(`${service.name} ${how} unexpectedly`)
      stopAll('SIGTERM', `${service.name} died`)
    } else {
      if (code !== 0 && code !== null && signal === null) exitCode = 1
      say(`${service.name} ${how}`)
    }
    finishIfDone()
  })
})

// Where everything is, once the services listen.
const deadline = Date.now() + READY_TIMEOUT_MS
const pending = new Set(running)
while (pending.size > 0 && Date.now() < deadline && stoppingSince === undefined) {
  for (const r of [...pending]) {
    if (r.exited) pending.delete(r)
    else if (await listening(r.service.port)) {
      pending.delete(r)
      say(`${r.service.name} listens on http://127.0.0.1:${r.service.port}`)
    }
  }
  if (pending.size > 0) await sleep(250)
}
if (stoppingSince === undefined) {
  const rows = [
    ...running.map((r) => [
      r.service.name,
      `http://127.0.0.1:${r.service.port}${pending.has(r) ? '   (not listening yet)' : ''}`,
    ]),
    ['RabbitMQ UI', 'http://127.0.0.1:15672   (guest / guest)'],
    ['ClickHouse', 'http://127.0.0.1:8123   (user default, no password)'],
  ]
  const w = Math.max(...rows.map(([name]) => name?.length ?? 0))
  say('')
  for (const [name, url] of rows) say(`  ${paint(1, (name ?? '').padEnd(w))}  ${url}`)
  say(`  Ctrl-C stops everything`)
  say('')
}
