import { createSql } from '@platform/db'
import { loadServiceConfig } from './config.js'
import { checkDay, dayRange } from './queries/days.js'
import { rebuildRollups } from './rollup/rebuild.js'

/**
 * Operator command: rebuilds the rollups of a range of UTC days from the events (rollup/rebuild.ts,
 * docs/analytics.md#rebuilding-the-rollups), with the service's own environment (DATABASE_URL, DB_SCHEMA).
 *
 *   node --import tsx services/analytics/src/rebuild-rollups.ts 2026-09-01 2026-11-30
 *   (compiled: node services/analytics/dist/rebuild-rollups.js ...)
 */
const [from, to] = process.argv.slice(2)
if (!from || !to) {
  process.stderr.write('usage: rebuild-rollups <from YYYY-MM-DD> <to YYYY-MM-DD>\n')
  process.exit(2)
}
const config = loadServiceConfig()
dayRange(checkDay(from, 'from'), checkDay(to, 'to'), 100_000)
const sql = createSql({
  url: config.DATABASE_URL,
  schema: config.DB_SCHEMA,
  applicationName: 'analytics-rebuild',
  max: 1,
})
try {
  const started = performance.now()
  const report = await rebuildRollups(
    sql,
    { schema: config.DB_SCHEMA, maxEventAgeDays: config.ANALYTICS_MAX_EVENT_AGE_DAYS },
    from,
    to,
  )
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  process.stdout.write(`rebuilt ${report.userDays} user days and ${report.days} days in ${seconds} s\n`)
} finally {
  await sql.end({ timeout: 5 })
}
