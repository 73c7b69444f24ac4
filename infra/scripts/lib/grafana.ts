import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * Grafana dashboards as data: infra/scripts/lib/grafana-dashboards.ts says what each panel shows, this file lays it
 * out as Grafana's dashboard JSON (schemaVersion 39, Grafana 10/11), and `node --import tsx
 * infra/scripts/grafana-dashboards.ts` writes infra/grafana/dashboards/*.json, which the compose `observability`
 * profile provisions. Written by code so that every panel has the same datasource, layout and legend, and a test
 * (infra/scripts/test/grafana-dashboards.unit.test.ts) can check the files are what the code makes.
 * https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
 */
export const DASHBOARDS_DIR = fileURLToPath(new URL('../../grafana/dashboards/', import.meta.url))

/** The datasource's uid, as infra/grafana/provisioning/datasources/prometheus.yml provisions it. */
export const DATASOURCE = { type: 'prometheus', uid: 'prometheus' } as const

/** Grafana's interval variables, and what a test puts in their place to hand the expression to promtool. */
export const GRAFANA_VARIABLES: Record<string, string> = { $__rate_interval: '5m', $__interval: '1m', $__range: '1h' }

export interface Target {
  expr: string
  /** Grafana's legend template, e.g. `{{service}}`. */
  legend: string
}

export interface PanelSpec {
  title: string
  description?: string
  /** Grafana's unit id: reqps, ops, percentunit, s, bytes, short. */
  unit: string
  targets: Target[]
  /** Of 24 columns; 8 by default (three panels a row). */
  width?: number
  type?: 'timeseries' | 'stat'
}

export interface RowSpec {
  title: string
  panels: PanelSpec[]
}

export interface DashboardSpec {
  uid: string
  title: string
  description: string
  rows: RowSpec[]
}

const HEIGHT = 8

export function dashboardJson(spec: DashboardSpec, all: DashboardSpec[]): Record<string, unknown> {
  let id = 0
  let y = 0
  const panels: Record<string, unknown>[] = []
  for (const row of spec.rows) {
    panels.push({
      id: ++id,
      type: 'row',
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    })
    y += 1
    let x = 0
    for (const panel of row.panels) {
      const w = panel.width ?? 8
      if (x + w > 24) {
        x = 0
        y += HEIGHT
      }
      panels.push(panelJson(panel, ++id, { h: HEIGHT, w, x, y }))
      x += w
    }
    y += HEIGHT
  }
  return {
    uid: spec.uid,
    title: spec.title,
    description: spec.description,
    tags: ['event-platform'],
    timezone: 'utc',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    links: all
      .filter((d) => d.uid !== spec.uid)
      .map((d) => ({ type: 'link', title: d.title, url: `/d/${d.uid}`, icon: 'dashboard', targetBlank: false })),
    panels,
  }
}

function panelJson(panel: PanelSpec, id: number, gridPos: Record<string, number>): Record<string, unknown> {
  const type = panel.type ?? 'timeseries'
  return {
    id,
    type,
    title: panel.title,
    ...(panel.description ? { description: panel.description } : {}),
    datasource: DATASOURCE,
    gridPos,
    fieldConfig: { defaults: { unit: panel.unit, ...(type === 'timeseries' ? { min: 0 } : {}) }, overrides: [] },
    options:
      type === 'stat'
        ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background' }
        : {
            legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
            tooltip: { mode: 'multi', sort: 'desc' },
          },
    targets: panel.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legend,
      range: true,
    })),
  }
}

/** `<uid>.json` -> the text the generator writes for it (stable key order, two-space indent, a final newline). */
export function renderDashboards(specs: DashboardSpec[]): Map<string, string> {
  return new Map(specs.map((spec) => [`${spec.uid}.json`, `${JSON.stringify(dashboardJson(spec, specs), null, 2)}\n`]))
}

export interface PanelQuery {
  dashboard: string
  panel: string
  expr: string
}

interface DashboardFile {
  title: string
  panels: { type: string; title: string; datasource?: { uid?: string }; targets?: { expr?: string }[] }[]
}

/** Every target of every panel of the dashboard files, as Grafana reads them. */
export function dashboardFiles(): { file: string; json: DashboardFile }[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(`${DASHBOARDS_DIR}${file}`, 'utf8')) as DashboardFile }))
}

export function panelQueries(): PanelQuery[] {
  return dashboardFiles().flatMap(({ json }) =>
    json.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ dashboard: json.title, panel: p.title, expr: String(t.expr ?? '') })),
    ),
  )
}

/** The expression with Grafana's variables replaced, as Prometheus would receive it. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replace(/\$__[a-z_]+/g, (v) => GRAFANA_VARIABLES[v] ?? v)
}
