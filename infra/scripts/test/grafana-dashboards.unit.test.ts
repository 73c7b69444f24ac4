import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import {
  DASHBOARDS_DIR,
  DATASOURCE,
  dashboardFiles,
  panelQueries,
  renderDashboards,
  withoutGrafanaVariables,
} from '../lib/grafana.js'
import { DASHBOARD_SPECS } from '../lib/grafana-dashboards.js'
import { promtool, ROOT } from '../lib/prometheus.js'

/**
 * infra/grafana without Grafana (it cannot run here): the dashboard files are what the specs make, every panel
 * queries the provisioned Prometheus, and every expression is PromQL that Prometheus 2.42 parses. Which metrics the
 * expressions name is checked against the running services in metrics-catalog.int.test.ts.
 */
const SERVICES = readdirSync(`${ROOT}services`).filter((d) => existsSync(`${ROOT}services/${d}/package.json`))

describe('infra/grafana', () => {
  it('holds the dashboards the specs make (node --import tsx infra/scripts/grafana-dashboards.ts)', () => {
    const rendered = renderDashboards(DASHBOARD_SPECS)
    const files = readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json'))
    expect(files.sort()).toEqual([...rendered.keys()].sort())
    for (const [file, text] of rendered) {
      // Compared as JSON: biome formats the files after they are written.
      expect({ file, json: JSON.parse(readFileSync(`${DASHBOARDS_DIR}${file}`, 'utf8')) }).toEqual({
        file,
        json: JSON.parse(text),
      })
    }
  })

  it('has an overview and one dashboard per service, each with a unique uid', () => {
    const uids = dashboardFiles().map(({ json }) => (json as unknown as { uid: string }).uid)
    expect(new Set(uids).size).toBe(uids.length)
    expect(uids).toEqual(expect.arrayContaining(['platform-overview', ...SERVICES]))
  })

  it('queries the provisioned Prometheus datasource from every panel', () => {
    const datasources = parse(readFileSync(`${ROOT}infra/grafana/provisioning/datasources/prometheus.yml`, 'utf8')) as {
      datasources: { uid: string; type: string; url: string }[]
    }
    expect(datasources.datasources).toContainEqual(
      expect.objectContaining({ uid: DATASOURCE.uid, type: DATASOURCE.type, url: 'http://prometheus:9090' }),
    )
    for (const { file, json } of dashboardFiles()) {
      for (const panel of json.panels.filter((p) => p.type !== 'row')) {
        expect({
          file,
          panel: panel.title,
          uid: panel.datasource?.uid,
          targets: (panel.targets ?? []).length > 0,
        }).toEqual({ file, panel: panel.title, uid: DATASOURCE.uid, targets: true })
      }
    }
  })

  it("parses every panel's PromQL (promtool check rules, the expressions as recording rules)", () => {
    const queries = panelQueries()
    expect(queries.length).toBeGreaterThan(50)
    const dir = mkdtempSync(join(tmpdir(), 'dashboards-promql-'))
    try {
      const rules = queries.map((q, i) => ({
        record: `dashboard:panel_${i}`,
        expr: withoutGrafanaVariables(q.expr),
        labels: { dashboard: q.dashboard, panel: q.panel },
      }))
      writeFileSync(join(dir, 'panels.yml'), stringify({ groups: [{ name: 'dashboards', rules }] }))
      const { status, output } = promtool(['check', 'rules', join(dir, 'panels.yml')], dir)
      expect({ status, output }).toMatchObject({ status: 0 })
      expect(output).toContain(`SUCCESS: ${queries.length} rules found`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
