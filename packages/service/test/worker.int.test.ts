import { fileURLToPath } from 'node:url'
import { createServiceTestEnv, type ServiceTestEnv } from '@platform/http/testing'
import { startTsProcess } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url))

/** runWorker: a process with a runtime and consumers but no routes, stopped like a server. */
describe('runWorker', () => {
  let env: ServiceTestEnv
  beforeAll(async () => {
    env = await createServiceTestEnv('worker')
  })
  afterAll(() => env?.cleanup())

  it('runs its consumers and stops cleanly on SIGTERM: consumers, then the relay and the connections', async () => {
    const worker = startTsProcess(WORKER, { ...env.env, LOG_LEVEL: 'info' })
    await worker.waitForOutput(/worker running/, 30_000)
    expect(await worker.kill('SIGTERM')).toBe(0)
    expect(worker.output()).toMatch(/"msg":"stopped"/)
  })

  it('ends within its grace period, exit 1, when stopping hangs', async () => {
    const worker = startTsProcess(WORKER, {
      ...env.env,
      LOG_LEVEL: 'info',
      HANG_ON_STOP: '1',
      SHUTDOWN_TIMEOUT_MS: '2000',
    })
    await worker.waitForOutput(/worker running/, 30_000)
    const started = performance.now()
    expect(await worker.kill('SIGTERM')).toBe(1)
    expect(performance.now() - started).toBeLessThan(2500)
    expect(worker.output()).toMatch(/stopped without waiting for calls still hung after 1000 ms/)
  })
})
