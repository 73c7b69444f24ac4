import { afterEach, describe, expect, it } from 'vitest'
import {
  type ChildSpec,
  DEFAULT_SETTINGS,
  type Supervisor,
  type SupervisorSettings,
  settingsFromEnv,
  supervise,
} from '../lib/supervisor.js'

/**
 * The supervisor of `npm start` (infra/scripts/lib/supervisor.ts) over real child processes: tiny Node scripts that
 * crash, exit, or wait for a signal. Delays are tens of milliseconds so a restart sequence takes a second.
 */
const node = (name: string, code: string): ChildSpec => ({ name, command: process.execPath, args: ['-e', code] })
/**
 * Runs until SIGTERM, then says so and exits 0 (a service's graceful shutdown). It prints "ready" once its handler is
 * installed: a loaded machine can take longer than any fixed wait to start node, and a SIGTERM before the handler
 * kills it by signal instead.
 */
const steady = (name: string) =>
  node(
    name,
    `process.on('SIGTERM', () => { console.log('graceful'); process.exit(0) }); console.log('ready'); setInterval(() => {}, 1000)`,
  )

const FAST: SupervisorSettings = {
  graceMs: 2000,
  restartDelayMs: 100,
  maxRestartDelayMs: 400,
  resetAfterMs: 60_000,
  maxCrashes: 20,
  crashWindowMs: 60_000,
}

interface Line {
  at: number
  text: string
}
let current: Supervisor | undefined

function run(specs: ChildSpec[], settings: Partial<SupervisorSettings> = {}) {
  const lines: Line[] = []
  const output: string[] = []
  const log = (text: string) => lines.push({ at: Date.now(), text })
  const supervisor = supervise(
    specs,
    { ...FAST, ...settings },
    {
      info: log,
      warn: log,
      output: (name, _stream, line) => output.push(`${name}: ${line}`),
    },
  )
  current = supervisor
  const waitForLine = async (pattern: RegExp, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const found = lines.find((l) => pattern.test(l.text))
      if (found) return found
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    throw new Error(`no line matching ${pattern}; lines:\n${lines.map((l) => l.text).join('\n')}`)
  }
  /** Until every named child has printed "ready" (its SIGTERM handler is in place). */
  const waitForReady = async (...names: string[]) => {
    const deadline = Date.now() + 10_000
    while (!names.every((name) => output.includes(`${name}: ready`))) {
      if (Date.now() > deadline) throw new Error(`not ready: ${names.join(', ')}; output:\n${output.join('\n')}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  return { supervisor, lines, output, waitForLine, waitForReady }
}

afterEach(async () => {
  current?.kill('test over')
  await current?.done
  current = undefined
})

describe('supervisor', () => {
  it('restarts a crashing child alone, with a doubling delay up to the cap, and says so in one line', async () => {
    const { supervisor, lines, output, waitForLine } = run([steady('steady'), node('crasher', 'process.exit(3)')])
    const steadyPid = supervisor.pid('steady')
    await waitForLine(/crasher restarted \(restart #5, pid \d+\)/)
    expect(supervisor.restarts('crasher')).toBeGreaterThanOrEqual(5)

    const crashes = lines.filter((l) => /^crasher crashed/.test(l.text)).slice(0, 5)
    expect(crashes[0]?.text).toMatch(
      /^crasher crashed \(exit code 3\) after \d+\.\d s: restart #1 in 0\.1 s \(crash 1 of 20 allowed within 60 s\)$/,
    )
    expect(crashes.map((l) => /in (\d+\.\d) s/.exec(l.text)?.[1])).toEqual(['0.1', '0.2', '0.4', '0.4', '0.4'])
    // The delays really are waited: crash n -> restart n takes at least the announced delay.
    const restarted = (n: number) => lines.find((l) => l.text.startsWith(`crasher restarted (restart #${n},`))
    for (const [n, ms] of [
      [1, 100],
      [2, 200],
      [3, 400],
    ] as const) {
      expect(restarted(n)!.at - crashes[n - 1]!.at).toBeGreaterThanOrEqual(ms - 5)
    }
    // The other child never stopped.
    expect(supervisor.pid('steady')).toBe(steadyPid)
    expect(supervisor.running('steady')).toBe(true)
    expect(supervisor.restarts('steady')).toBe(0)

    supervisor.stop('SIGTERM', 'test')
    expect(await supervisor.done).toBe(0)
    expect(output).toContain('steady: graceful')
  })

  it('restarts after a signal and after an unexpected exit 0 as well', async () => {
    const { supervisor, waitForLine } = run([
      node('killed', `process.kill(process.pid, 'SIGKILL')`),
      node('quitter', `setTimeout(() => process.exit(0), 50)`),
    ])
    await waitForLine(/^killed crashed \(signal SIGKILL\) after .*: restart #1 in 0\.1 s/)
    await waitForLine(/^quitter crashed \(exit code 0\) after .*: restart #1 in 0\.1 s/)
    await waitForLine(/^killed restarted \(restart #1/)
    await waitForLine(/^quitter restarted \(restart #1/)
    supervisor.stop('SIGTERM', 'test')
    expect(await supervisor.done).toBe(0)
  })

  it('starts the delay over once a child stayed up for resetAfterMs', async () => {
    const { supervisor, lines, waitForLine } = run([node('flaky', 'setTimeout(() => process.exit(1), 250)')], {
      resetAfterMs: 200,
    })
    await waitForLine(/^flaky crashed .*restart #3 in/)
    const delays = lines.filter((l) => /^flaky crashed/.test(l.text)).map((l) => /in (\d+\.\d) s/.exec(l.text)?.[1])
    expect(delays).toEqual(['0.1', '0.1', '0.1'])
    supervisor.stop('SIGTERM', 'test')
    await supervisor.done
  })

  it('gives up after maxCrashes within crashWindowMs: stops the others gracefully and ends with 1', async () => {
    const { supervisor, lines, output, waitForLine } = run(
      [steady('steady'), node('crasher', `console.error('boom'); process.exit(2)`)],
      { restartDelayMs: 100, maxCrashes: 3, crashWindowMs: 10_000 },
    )
    expect(await supervisor.done).toBe(1)
    await waitForLine(
      /^giving up on crasher: 3 crashes within 10 s \(RUN_ALL_MAX_CRASHES=3\), the last with exit code 2$/,
    )
    expect(supervisor.restarts('crasher')).toBe(2)
    expect(lines.map((l) => l.text)).toContain('steady stopped (exit code 0)')
    expect(output).toContain('steady: graceful')
    expect(output.filter((l) => l === 'crasher: boom')).toHaveLength(3)
  })

  it('counts only the crashes within the window', async () => {
    // A crash every ~150 ms; 3 allowed within 100 ms: never reached.
    const { supervisor, waitForLine } = run([node('slow', 'setTimeout(() => process.exit(1), 100)')], {
      restartDelayMs: 50,
      maxRestartDelayMs: 50,
      maxCrashes: 3,
      crashWindowMs: 100,
    })
    await waitForLine(/^slow restarted \(restart #4/)
    expect(supervisor.stoppingSince()).toBeUndefined()
    supervisor.stop('SIGTERM', 'test')
    expect(await supervisor.done).toBe(0)
  })

  it('stops gracefully on stop(): the signal to every child, which are not restarted, then 0', async () => {
    const { supervisor, lines, output, waitForReady } = run([steady('a'), steady('b')])
    await waitForReady('a', 'b')
    supervisor.stop('SIGTERM', 'received SIGTERM')
    expect(await supervisor.done).toBe(0)
    expect(output.filter((l) => l.endsWith('graceful')).sort()).toEqual(['a: graceful', 'b: graceful'])
    expect(lines.map((l) => l.text)).toEqual(
      expect.arrayContaining([
        'received SIGTERM: SIGTERM to a, b, waiting up to 2.0 s',
        'a stopped (exit code 0)',
        'b stopped (exit code 0)',
      ]),
    )
    expect(lines.some((l) => /crashed|restarted/.test(l.text))).toBe(false)
  })

  it('SIGKILLs a child still running after graceMs, and ends with 1', async () => {
    const { supervisor, lines, waitForReady } = run(
      [
        steady('polite'),
        node('stubborn', `process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)`),
      ],
      { graceMs: 300 },
    )
    await waitForReady('polite', 'stubborn')
    const started = Date.now()
    supervisor.stop('SIGTERM', 'test')
    expect(await supervisor.done).toBe(1)
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(lines.map((l) => l.text)).toEqual(
      expect.arrayContaining(['still running after 0.3 s: SIGKILL to stubborn', 'stubborn stopped (signal SIGKILL)']),
    )
  })
})

describe('settingsFromEnv', () => {
  it('reads RUN_ALL_* variables, defaults for the unset and empty ones, and names a bad one', () => {
    expect(settingsFromEnv({})).toEqual(DEFAULT_SETTINGS)
    expect(DEFAULT_SETTINGS).toMatchObject({ restartDelayMs: 500, maxRestartDelayMs: 15_000, maxCrashes: 5 })
    expect(
      settingsFromEnv({ RUN_ALL_MAX_CRASHES: '2', RUN_ALL_CRASH_WINDOW_MS: '1000', RUN_ALL_RESTART_DELAY_MS: '' }),
    ).toEqual({ ...DEFAULT_SETTINGS, maxCrashes: 2, crashWindowMs: 1000 })
    expect(() => settingsFromEnv({ RUN_ALL_RESTART_MAX_DELAY_MS: '1.5' })).toThrow(
      'RUN_ALL_RESTART_MAX_DELAY_MS must be an integer >= 1 (got "1.5")',
    )
  })
})
