/**
 * Writes infra/grafana/dashboards/*.json from infra/scripts/lib/grafana-dashboards.ts:
 *   node --import tsx infra/scripts/grafana-dashboards.ts
 * Edit the specs, run this and `pnpm exec biome check --write infra/grafana` (the repository's JSON format), commit
 * both; infra/scripts/test/grafana-dashboards.unit.test.ts fails while the files differ from what the specs make.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { DASHBOARDS_DIR, renderDashboards } from './lib/grafana.js'
import { DASHBOARD_SPECS } from './lib/grafana-dashboards.js'

const files = renderDashboards(DASHBOARD_SPECS)
mkdirSync(DASHBOARDS_DIR, { recursive: true })
for (const old of readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json') && !files.has(f))) {
  rmSync(`${DASHBOARDS_DIR}${old}`)
}
for (const [file, text] of files) writeFileSync(`${DASHBOARDS_DIR}${file}`, text)
console.log(`wrote ${[...files.keys()].join(', ')} to ${DASHBOARDS_DIR}`)
