import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { metricNamingProblems } from '../../../packages/metrics/index.js'
import { panelQueries, withoutGrafanaVariables } from '../lib/grafana.js'
import { metricsTableProblems, parseMetricsTable, tableAfter } from '../lib/metrics-table.js'
import { loadAlertRules, ROOT } from '../lib/prometheus.js'
import { metricNamesIn, PROMETHEUS_SERIES, seriesNamesOf } from '../lib/promql.js'
import { type PlatformApp, rabbitMQSeriesNames, startPlatform } from './support/platform-apps.js'

/**
 * Every metric of every service, read from the registries of the five services as their buildApp makes them (ready:
 * consumers and relays have registered theirs), against the one naming convention, the table of docs/operations.md,
 * and the metric names the alert rules and the Grafana dashboards use. A metric added without its row, a row left behind, an alert on a
 * misspelt metric (valid PromQL that selects nothing) all fail here.
 */
let apps: PlatformApp[] = []
let exported: Record<string, ReturnType<PlatformApp['metrics']>> = {}
let rabbitmq: Set<string>

beforeAll(async () => {
  apps = await startPlatform()
  exported = Object.fromEntries(apps.map((a) => [a.name, a.metrics()]))
  rabbitmq = await rabbitMQSeriesNames()
}, 180_000)

afterAll(async () => {
  await Promise.allSettled(apps.map((a) => a.close()))
})

/** Every series name the services export, a histogram's _bucket/_sum/_count included. */
const serviceSeries = () => new Set(Object.values(exported).flatMap((metrics) => metrics.flatMap(seriesNamesOf)))

describe('the metrics of every service', () => {
  it('follow one naming convention, across services too (@platform/metrics naming.ts)', () => {
    const all = Object.values(exported).flat()
    expect(all.length).toBeGreaterThan(50)
    expect(metricNamingProblems(all)).toEqual([])
  })

  it('are each listed once in docs/operations.md with their type, labels and services, and nothing else is', () => {
    const rows = parseMetricsTable(readFileSync(`${ROOT}docs/operations.md`, 'utf8'))
    expect(rows.length).toBeGreaterThan(20)
    expect(metricsTableProblems(rows, exported)).toEqual([])
  })

  it("list RabbitMQ's metrics that the alerts and dashboards use, and rabbitmq_prometheus exports each", () => {
    const listed = tableAfter(readFileSync(`${ROOT}docs/operations.md`, 'utf8'), "### RabbitMQ's metrics").flatMap(
      ([metric = '']) => [...metric.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string),
    )
    expect(listed.length).toBeGreaterThan(3)
    expect(listed.filter((name) => !rabbitmq.has(name))).toEqual([])
  })
})

describe('the alert rules (infra/prometheus/alerts.yml)', () => {
  it('name only metrics that the services or RabbitMQ export', () => {
    const known = new Set([...serviceSeries(), ...rabbitmq, ...PROMETHEUS_SERIES])
    const unknown = loadAlertRules().flatMap((rule) =>
      metricNamesIn(rule.expr)
        .filter((name) => !known.has(name))
        .map((name) => `${rule.alert}: ${name}`),
    )
    expect(unknown).toEqual([])
  })
})

describe('the Grafana dashboards (infra/grafana/dashboards)', () => {
  it('name only metrics that the services or RabbitMQ export, in every panel', () => {
    const known = new Set([...serviceSeries(), ...rabbitmq, ...PROMETHEUS_SERIES])
    const queries = panelQueries()
    expect(queries.length).toBeGreaterThan(50)
    const unknown = queries.flatMap((q) =>
      metricNamesIn(withoutGrafanaVariables(q.expr))
        .filter((name) => !known.has(name))
        .map((name) => `${q.dashboard} / ${q.panel}: ${name}`),
    )
    expect(unknown).toEqual([])
  })
})
