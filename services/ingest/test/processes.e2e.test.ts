import { fileURLToPath } from 'node:url'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { type RunningProcess, startTsProcess, waitFor } from '@platform/testing'
import { afterAll, describe, expect, it } from 'vitest'

/**
 * Every service as the real process an operator starts: `tsx src/server.ts`, configured only through its
 * environment. They start, report ready, and leave with exit code 0 on SIGTERM; a bad variable stops the start.
 */
const SERVICES = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper']
const SHUTDOWN_TIMEOUT_MS = 10_000

const serverFile = (service: string) => fileURLToPath(new URL(`../../${service}/src/server.ts`, import.meta.url))

const envs: ServiceTestEnv[] = []
const processes: RunningProcess[] = []

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill('SIGKILL')))
  await Promise.all(envs.map((e) => e.cleanup()))
})

async function start(service: string, overrides: Record<string, string> = {}) {
  const testEnv = await createServiceTestEnv(service, {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    ...overrides,
  })
  envs.push(testEnv)
  const process = startTsProcess(serverFile(service), testEnv.env)
  processes.push(process)
  return process
}

describe('service processes', () => {
  it('all five start, report ready, and exit 0 on SIGTERM', async () => {
    const running = await Promise.all(
      SERVICES.map(async (service) => {
        const process = await start(service)
        await process.waitForOutput(new RegExp(`${service} listening on http://`), 30_000)
        const url = new RegExp(`${service} listening on (http://[\\d.:]+)`).exec(process.output())?.[1]
        return { service, process, url: url! }
      }),
    )

    for (const { service, url } of running) {
      const ready = await waitFor(
        async () => {
          const res = await fetch(`${url}/health/ready`)
          return res.status === 200 ? ((await res.json()) as { checks: Record<string, string> }) : undefined
        },
        { message: `${service} ready` },
      )
      expect(Object.values(ready.checks).every((c) => c === 'ok')).toBe(true)
    }

    const started = Date.now()
    const codes = await Promise.all(running.map(({ process }) => process.kill('SIGTERM')))
    expect(codes).toEqual(SERVICES.map(() => 0))
    expect(Date.now() - started).toBeLessThan(SHUTDOWN_TIMEOUT_MS)
    for (const { process } of running) expect(process.output()).toContain('"msg":"stopped"')
  })

  it('exits 1 with one line naming a bad variable, without a stack trace', async () => {
    const process = await start('ingest', { PORT: 'abc' })
    expect(await process.exited).toBe(1)
    const output = process.output()
    expect(output).toMatch(/invalid configuration: PORT must be an integer/)
    expect(output.trim().split('\n')).toHaveLength(1)
    expect(output).not.toMatch(/\n\s+at /)
  })
})
