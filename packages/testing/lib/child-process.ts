import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'

const require = createRequire(import.meta.url)
/**
 * tsx's loader, resolved from this package. `node --import <loader> file.ts` runs the file in ONE process; tsx's
 * CLI would put a wrapper process in between, and a SIGKILL would then kill the wrapper, not the service.
 */
export const tsxLoader = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href

/** Children still running when the test worker exits are killed with it: a failed test must not leave processes. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface RunningProcess {
  child: ChildProcess
  output(): string
  /** Resolves when a line matching `pattern` has been printed. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>
  /** Sends `signal` and resolves with the exit code (or signal name). */
  kill(signal?: NodeJS.Signals): Promise<number | string | null>
  exited: Promise<number | string | null>
}

/** Starts a TypeScript file as its own Node process (so it can really be SIGKILLed). */
export function startTsProcess(
  file: string,
  env: Record<string, string | undefined> = {},
  /** Extra Node flags, e.g. ['--cpu-prof'] (which NODE_OPTIONS does not accept). */
  nodeArgs: string[] = [],
): RunningProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', tsxLoader, file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let output = ''
  const listeners = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    output += chunk.toString()
    if (output.length > 2_000_000) output = output.slice(-1_000_000)
    for (const l of listeners) l()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  )
  return {
    child,
    exited,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            listeners.delete(check)
            clearTimeout(timer)
            resolve()
          }
        }
        const timer = setTimeout(() => {
          listeners.delete(check)
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms; output:\n${output.slice(-3000)}`))
        }, timeoutMs)
        listeners.add(check)
        check()
        void exited.then(() => {
          if (listeners.has(check)) {
            listeners.delete(check)
            clearTimeout(timer)
            reject(new Error(`process exited before printing ${pattern}; output:\n${output.slice(-3000)}`))
          }
        })
      })
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
