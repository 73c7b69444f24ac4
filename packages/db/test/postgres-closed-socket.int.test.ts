import { fileURLToPath } from 'node:url'
import { startTsProcess, testUrls } from '@platform/testing'
import { describe, expect, it } from 'vitest'

/**
 * Regression test of patches/postgres@3.4.9.patch (patches/README.md). The reproduction runs in a child process, so
 * the driver's uncaught TypeError is seen as a crashed child instead of killing the test worker. The child inherits
 * POSTGRES_MODULE: set it to an unpatched copy's src/index.js and this test fails (patches/README.md).
 */
const child = fileURLToPath(new URL('./fixtures/closed-socket-child.ts', import.meta.url))

describe('postgres.js with a socket that closed under it (patched)', () => {
  it('rejects the queries written after the close with CONNECTION_CLOSED, does not crash, and recovers', async () => {
    const run = startTsProcess(child, { DATABASE_URL: testUrls().databaseUrl })
    const exit = await run.exited
    expect(run.output(), 'the child must not crash').not.toMatch(/TypeError|uncaught/i)
    expect(exit, run.output()).toBe(0)
    const line = run.output().match(/^RESULT (.*)$/m)?.[1]
    const { outcomes, pending } = JSON.parse(line ?? '{}') as { outcomes: Record<string, string>; pending: string[] }
    expect(pending, 'every query settles').toEqual([])
    expect(outcomes.begin).toBe('CONNECTION_CLOSED')
    // Run outside its transaction or left pending would both be wrong: they must fail.
    expect(outcomes['tx: query after close']).toBe('CONNECTION_CLOSED')
    expect(outcomes['tx: parameterised query after close']).toBe('CONNECTION_CLOSED')
    // In flight when the proxy cut the connection: answered before it, or failed with the connection. Which error
    // depends on how the socket learnt of the cut (a clean close: CONNECTION_CLOSED; a reset on a busy machine:
    // ECONNRESET, seen once in CI); either way the query settled and nothing crashed.
    for (let n = 1; n <= 5; n++) {
      expect(['ok', 'CONNECTION_CLOSED', 'ECONNRESET']).toContain(outcomes[`pipelined ${n}`])
    }
    expect(outcomes.after).toBe('ok')
  }, 30_000)
})
