import type { Sql } from '@platform/db'
import { createLogger } from '@platform/logging'
import { waitFor } from '@platform/testing'
import { describe, expect, it } from 'vitest'
import { createSessionCleanup } from '../src/auth/session-cleanup.js'

/**
 * A cleanup pass stuck on a dead connection (a query that never settles) must not hang the service's shutdown:
 * stop() waits for it only up to its deadline (5 s, @platform/service createPeriodicJob).
 */
describe('session cleanup stop', () => {
  it('returns while a pass hangs', async () => {
    let queries = 0
    const hanging = (() => {
      queries++
      return new Promise(() => {})
    }) as unknown as Sql
    const cleanup = createSessionCleanup({
      sql: hanging,
      logger: createLogger({ service: 'feed-test', level: 'silent' }),
      intervalMs: 10,
    })
    cleanup.start()
    await waitFor(() => queries > 0)
    const stopped = cleanup.stop().then(() => 'stopped')
    const hung = new Promise((resolve) => setTimeout(() => resolve('hung'), 8000).unref())
    expect(await Promise.race([stopped, hung])).toBe('stopped')
  }, 10_000)
})
