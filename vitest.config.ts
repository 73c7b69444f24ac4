import { defineConfig } from 'vitest/config'

/**
 * One run over every package and service. Test files are isolated (own schema, vhost, Redis prefix), so they run
 * in parallel; most of their time is spent waiting on I/O, hence more workers than the machine's two cores.
 * Names say the tier: *.unit.test.ts (no services), *.int.test.ts (real services), *.e2e.test.ts (processes).
 */
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'infra/scripts/test/**/*.test.ts'],
    globalSetup: ['packages/testing/lib/global-setup.ts'],
    pool: 'forks',
    maxWorkers: Number(process.env.TEST_WORKERS ?? 4),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
})
