/**
 * Keeps a set of child processes running (what `npm start` runs the services under; infra/scripts/run-all.ts):
 *
 * - A child that exits while nobody asked it to (any exit code, 0 included, or a signal) is restarted on its own,
 *   after a delay that doubles from `restartDelayMs` up to `maxRestartDelayMs`; a run that stayed up for
 *   `resetAfterMs` starts the doubling over. The others keep running: one crashed service must not take the rest
 *   down (ingest refused ~30,000 webhooks because the log-shipper died).
 * - The `maxCrashes`-th crash of one child within `crashWindowMs` is not restarted: the supervisor gives up, stops
 *   the others gracefully and its run ends with exit code 1. A service that cannot start (bad config, a port in
 *   use) is not restarted forever.
 * - stop(signal) passes the signal on to every child, SIGKILLs those still running after `graceMs`; the run ends
 *   with 0 if all exited with 0 or by the signal.
 *
 * Each child runs in a process group of its own (detached), signalled as a group, so a terminal's Ctrl-C reaches it
 * once, through here (a second signal makes a close-with-grace shutdown give up). docs/operations.md describes the
 * log lines and the RUN_ALL_* variables (settingsFromEnv).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'

export interface ChildSpec {
  name: string
  command: string
  args: string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
}

export interface SupervisorSettings {
  graceMs: number
  restartDelayMs: number
  maxRestartDelayMs: number
  /** A run that lasted this long resets the restart delay to restartDelayMs. */
  resetAfterMs: number
  /** This many crashes of one child within crashWindowMs: give up. */
  maxCrashes: number
  crashWindowMs: number
}

export const DEFAULT_SETTINGS: SupervisorSettings = {
  graceMs: 15_000,
  restartDelayMs: 500,
  maxRestartDelayMs: 15_000,
  resetAfterMs: 30_000,
  maxCrashes: 5,
  crashWindowMs: 60_000,
}

const ENV_NAMES: Record<keyof SupervisorSettings, string> = {
  graceMs: 'RUN_ALL_GRACE_MS',
  restartDelayMs: 'RUN_ALL_RESTART_DELAY_MS',
  maxRestartDelayMs: 'RUN_ALL_RESTART_MAX_DELAY_MS',
  resetAfterMs: 'RUN_ALL_RESTART_RESET_MS',
  maxCrashes: 'RUN_ALL_MAX_CRASHES',
  crashWindowMs: 'RUN_ALL_CRASH_WINDOW_MS',
}

/** The settings from RUN_ALL_* variables (unset or empty: the default); throws naming a variable that is no integer >= 1. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): SupervisorSettings {
  const settings = { ...DEFAULT_SETTINGS }
  for (const [key, variable] of Object.entries(ENV_NAMES) as [keyof SupervisorSettings, string][]) {
    const raw = env[variable]
    if (raw === undefined || raw === '') continue
    const value = Number(raw)
    if (!Number.isInteger(value) || value < 1) throw new Error(`${variable} must be an integer >= 1 (got "${raw}")`)
    settings[key] = value
  }
  return settings
}

export interface SupervisorHooks {
  /** One line a child printed. */
  output?: (name: string, stream: 'stdout' | 'stderr', line: string) => void
  info?: (line: string) => void
  warn?: (line: string) => void
}

interface Slot {
  spec: ChildSpec
  child?: ChildProcess
  startedAt: number
  /** Crashes since the last run that lasted resetAfterMs: the exponent of the next delay. */
  streak: number
  restarts: number
  crashTimes: number[]
  restartTimer?: NodeJS.Timeout
}

export interface Supervisor {
  /** Resolves with the run's exit code once every child has ended: after stop(), or after giving up. */
  readonly done: Promise<number>
  /** Graceful stop: `signal` to every child, SIGKILL after graceMs. A second call does nothing. */
  stop(signal: NodeJS.Signals, why: string): void
  /** SIGKILL to every child still running (a second Ctrl-C); the run ends with 1. */
  kill(why: string): void
  /** `signal` to every running child and nothing else (this process is exiting: leave nothing behind). */
  signalAll(signal: NodeJS.Signals): void
  /** When stop() (or giving up) began; undefined while running. */
  stoppingSince(): number | undefined
  /** The child's pid while it runs. */
  pid(name: string): number | undefined
  running(name: string): boolean
  restarts(name: string): number
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`

export function supervise(
  specs: ChildSpec[],
  settings: SupervisorSettings = DEFAULT_SETTINGS,
  hooks: SupervisorHooks = {},
): Supervisor {
  const info = hooks.info ?? ((line: string) => process.stdout.write(`${line}\n`))
  const warn = hooks.warn ?? ((line: string) => process.stderr.write(`${line}\n`))
  const slots = specs.map((spec): Slot => ({ spec, startedAt: 0, streak: 0, restarts: 0, crashTimes: [] }))
  let stoppingSince: number | undefined
  let killTimer: NodeJS.Timeout | undefined
  let exitCode = 0
  let finish: (code: number) => void = () => {}
  const done = new Promise<number>((resolve) => {
    finish = resolve
  })

  const alive = (s: Slot) => s.child !== undefined
  const slotOf = (name: string) => slots.find((s) => s.spec.name === name)

  function signalGroup(s: Slot, signal: NodeJS.Signals) {
    const pid = s.child?.pid
    if (pid === undefined) return
    try {
      process.kill(-pid, signal) // the whole process group
    } catch {
      s.child?.kill(signal)
    }
  }

  function start(s: Slot) {
    s.restartTimer = undefined
    const child = spawn(s.spec.command, s.spec.args, {
      cwd: s.spec.cwd,
      env: s.spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    s.child = child
    s.startedAt = Date.now()
    if (s.restarts > 0) info(`${s.spec.name} restarted (restart #${s.restarts}, pid ${child.pid})`)
    else info(`${s.spec.name} started (pid ${child.pid})`)
    const forward = (stream: 'stdout' | 'stderr') => (line: string) => hooks.output?.(s.spec.name, stream, line)
    createInterface({ input: child.stdout! }).on('line', forward('stdout'))
    createInterface({ input: child.stderr! }).on('line', forward('stderr'))
    let ended = false
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return
      ended = true
      s.child = undefined
      exited(s, code, signal)
    }
    child.once('error', (error) => {
      warn(`${s.spec.name}: could not start: ${error.message}`)
      if (child.pid === undefined) settle(1, null) // no process, so no 'close' to wait for
    })
    child.once('close', settle)
  }

  /** A child ended: expected (stopping), or a crash to restart after a delay, or one crash too many. */
  function exited(s: Slot, code: number | null, signal: NodeJS.Signals | null) {
    const how = signal ? `signal ${signal}` : `exit code ${code}`
    if (stoppingSince !== undefined) {
      if (code !== 0 && code !== null && signal === null) exitCode = 1
      info(`${s.spec.name} stopped (${how})`)
      finishIfDone()
      return
    }
    const now = Date.now()
    const upMs = now - s.startedAt
    if (upMs >= settings.resetAfterMs) s.streak = 0
    s.crashTimes = [...s.crashTimes.filter((t) => now - t < settings.crashWindowMs), now]
    const within = `within ${seconds(settings.crashWindowMs)}`
    if (s.crashTimes.length >= settings.maxCrashes) {
      exitCode = 1
      warn(
        `giving up on ${s.spec.name}: ${s.crashTimes.length} crashes ${within} ` +
          `(RUN_ALL_MAX_CRASHES=${settings.maxCrashes}), the last with ${how}`,
      )
      stop('SIGTERM', `${s.spec.name} keeps crashing`)
      return
    }
    const delay = Math.min(settings.restartDelayMs * 2 ** s.streak, settings.maxRestartDelayMs)
    s.streak++
    s.restarts++
    warn(
      `${s.spec.name} crashed (${how}) after ${seconds(upMs)}: restart #${s.restarts} in ${seconds(delay)} ` +
        `(crash ${s.crashTimes.length} of ${settings.maxCrashes} allowed ${within})`,
    )
    s.restartTimer = setTimeout(() => start(s), delay)
  }

  function finishIfDone() {
    if (stoppingSince === undefined || slots.some(alive)) return
    clearTimeout(killTimer)
    finish(exitCode)
  }

  function stop(signal: NodeJS.Signals, why: string) {
    if (stoppingSince !== undefined) return
    stoppingSince = Date.now()
    for (const s of slots) {
      clearTimeout(s.restartTimer)
      s.restartTimer = undefined
    }
    const left = slots.filter(alive)
    const names = left.map((s) => s.spec.name).join(', ')
    info(
      left.length === 0
        ? `${why}: nothing else runs`
        : `${why}: ${signal} to ${names}, waiting up to ${seconds(settings.graceMs)}`,
    )
    for (const s of left) signalGroup(s, signal)
    killTimer = setTimeout(() => kill(`still running after ${seconds(settings.graceMs)}`), settings.graceMs)
    killTimer.unref()
    finishIfDone()
  }

  function kill(why: string) {
    exitCode = 1
    if (stoppingSince === undefined) {
      stop('SIGKILL', why)
      return
    }
    const left = slots.filter(alive)
    if (left.length === 0) return
    warn(`${why}: SIGKILL to ${left.map((s) => s.spec.name).join(', ')}`)
    for (const s of left) signalGroup(s, 'SIGKILL')
  }

  for (const s of slots) start(s)

  return {
    done,
    stop,
    kill,
    signalAll: (signal) => {
      for (const s of slots) signalGroup(s, signal)
    },
    stoppingSince: () => stoppingSince,
    pid: (name) => slotOf(name)?.child?.pid,
    running: (name) => {
      const s = slotOf(name)
      return s !== undefined && alive(s)
    },
    restarts: (name) => slotOf(name)?.restarts ?? 0,
  }
}
