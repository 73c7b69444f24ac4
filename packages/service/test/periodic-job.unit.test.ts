import { createLogger } from '@platform/logging'
import { waitFor } from '@platform/testing'
import { describe, expect, it } from 'vitest'
import { createPeriodicJob } from '../index.js'

const logger = createLogger({ service: 'periodic-job-test', level: 'silent' })

/** createPeriodicJob: one run at a time, failures retried at the next tick, a stop bounded by its deadline. */
describe('createPeriodicJob', () => {
  it('stop() returns within its timeout while a run hangs', async () => {
    let runs = 0
    const job = createPeriodicJob({
      name: 'hanging',
      run: () => {
        runs++
        return new Promise(() => {}) // a query on a connection that no longer reaches the server
      },
      intervalMs: 20,
      stopTimeoutMs: 100,
      logger,
    })
    job.start()
    expect(job.running).toBe(true)
    const stopped = job.stop().then(() => 'stopped')
    const hung = new Promise((resolve) => setTimeout(() => resolve('hung'), 2000).unref())
    expect(await Promise.race([stopped, hung])).toBe('stopped')
    expect(runs).toBe(1) // ticks during the hanging run started no second one
  })

  it('runs again after a failed run, and waits for a run in progress to finish', async () => {
    let runs = 0
    let finished = false
    const job = createPeriodicJob({
      name: 'flaky',
      run: async () => {
        runs++
        if (runs === 1) throw new Error('connection refused')
        await new Promise((resolve) => setTimeout(resolve, 50))
        finished = true
      },
      intervalMs: 10,
      logger,
    })
    job.start()
    await waitFor(() => runs >= 2)
    await job.stop()
    expect(finished).toBe(true)
    const after = runs
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(runs).toBe(after)
  })

  it('waits an interval before the first run when runAtStart is false', async () => {
    let runs = 0
    const job = createPeriodicJob({
      name: 'late',
      run: async () => runs++,
      intervalMs: 60_000,
      logger,
      runAtStart: false,
    })
    job.start()
    expect(runs).toBe(0)
    await job.stop()
  })
})
