import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { tableAfter } from '../lib/metrics-table.js'
import {
  type AlertRule,
  CONFIG_FILE,
  durationSeconds,
  headingAnchors,
  loadAlertRules,
  loadRuleTests,
  promtool,
  ROOT,
  RULES_FILE,
  ruleTestFiles,
  seriesLabels,
} from '../lib/prometheus.js'

/**
 * infra/prometheus: the configuration and the alert rules are what Prometheus 2.42 accepts (promtool), every alert
 * is unit-tested to fire above its threshold and not below it, and every alert tells the operator where to look.
 */
const rules = loadAlertRules()
const ruleTests = loadRuleTests()
const SERVICES = readdirSync(`${ROOT}services`).filter((d) => existsSync(`${ROOT}services/${d}/package.json`))

describe('prometheus.yml', () => {
  it('is a valid configuration, its rule file included (promtool check config)', () => {
    const { status, output } = promtool(['check', 'config', CONFIG_FILE])
    expect(output).toMatch(/SUCCESS: 1 rule files found/)
    expect({ status, output }).toMatchObject({ status: 0 })
  })

  it("scrapes every service at its compose name and port, and RabbitMQ's node and per-queue metrics", () => {
    const config = parse(readFileSync(CONFIG_FILE, 'utf8')) as {
      scrape_configs: {
        job_name: string
        metrics_path?: string
        params?: Record<string, string[]>
        static_configs: { targets: string[] }[]
      }[]
    }
    const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8'), { merge: true }) as {
      services: Record<string, { environment?: Record<string, string> }>
    }
    const jobs = new Map(config.scrape_configs.map((job) => [job.job_name, job]))
    for (const service of SERVICES) {
      const port = compose.services[service]?.environment?.PORT
      expect({ service, port }).toEqual({ service, port: expect.stringMatching(/^\d+$/) })
      expect({ service, targets: jobs.get(service)?.static_configs.flatMap((s) => s.targets) }).toEqual({
        service,
        targets: [`${service}:${port}`],
      })
    }
    expect(jobs.get('rabbitmq')?.static_configs[0]?.targets).toEqual(['rabbitmq:15692'])
    const queues = jobs.get('rabbitmq-queues')
    expect(queues).toMatchObject({
      metrics_path: '/metrics/detailed',
      static_configs: [{ targets: ['rabbitmq:15692'] }],
    })
    expect(queues?.params?.family?.sort()).toEqual(['queue_coarse_metrics', 'queue_consumer_count'])
  })
})

describe('alerts.yml', () => {
  it('is valid (promtool check rules)', () => {
    const { status, output } = promtool(['check', 'rules', RULES_FILE])
    expect({ status, output }).toMatchObject({ status: 0 })
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`)
  })

  it('passes its unit tests: every alert fires above its threshold and not below it (promtool test rules)', () => {
    const files = ruleTestFiles()
    expect(files.length).toBeGreaterThan(0)
    const { status, output } = promtool(['test', 'rules', ...files])
    expect({ status, output }).toMatchObject({ status: 0 })
  })

  it('gives every alert a unique name, a threshold, a `for`, a severity, a summary and a runbook section', () => {
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length)
    const problems: string[] = []
    for (const rule of rules) {
      if (!/(>|<|==|!=)\s*-?[0-9.]+\s*$/.test(rule.expr.trim())) problems.push(`${rule.alert}: no threshold at the end`)
      if (!rule.for || durationSeconds(rule.for) <= 0) problems.push(`${rule.alert}: no \`for\``)
      if (!['critical', 'warning'].includes(rule.labels.severity ?? '')) problems.push(`${rule.alert}: severity`)
      if (!rule.annotations.summary) problems.push(`${rule.alert}: no summary`)
      const problem = runbookProblem(rule)
      if (problem) problems.push(problem)
    }
    expect(problems).toEqual([])
  })

  it('has, for every alert, a test where it fires beside a series that does not, and does not fire yet `for` before', () => {
    const problems: string[] = []
    for (const rule of rules) {
      const cases = ruleTests.filter((t) => t.alertname === rule.alert)
      const firing = cases.filter((t) => t.expAlerts.length > 0)
      if (firing.length === 0) problems.push(`${rule.alert}: no test in which it fires`)
      // A series below the threshold: one whose labels contradict every alert expected to fire.
      const beside = firing.some((t) =>
        t.inputSeries.some((series) => {
          const labels = seriesLabels(series)
          return t.expAlerts.every((a) =>
            Object.entries(a.exp_labels ?? {}).some(([k, v]) => k in labels && labels[k] !== String(v)),
          )
        }),
      )
      if (firing.length > 0 && !beside)
        problems.push(`${rule.alert}: no series below its threshold beside the firing one`)
      // Not yet firing at most `for` before it fires: the condition must hold for `for` first.
      const forSeconds = durationSeconds(rule.for ?? '0s')
      const early = firing.some((f) =>
        cases.some(
          (e) =>
            e.file === f.file &&
            e.name === f.name &&
            e.expAlerts.length === 0 &&
            durationSeconds(e.evalTime) < durationSeconds(f.evalTime) &&
            durationSeconds(f.evalTime) - durationSeconds(e.evalTime) <= forSeconds,
        ),
      )
      if (!early) problems.push(`${rule.alert}: no test that it waits for its \`for\``)
    }
    expect(problems).toEqual([])
  })

  it('is listed alert by alert in docs/operations.md, with its severity', () => {
    const operations = readFileSync(`${ROOT}docs/operations.md`, 'utf8')
    const section = operations.split(/^## Alerts$/m)[1]?.split(/^## /m)[0] ?? ''
    const listed = new Map(
      [...section.matchAll(/^\|\s*`([A-Za-z]+)`\s*\|\s*(\w+)\s*\|/gm)].map((m) => [m[1] as string, m[2] as string]),
    )
    expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(rules.map((r) => [r.alert, r.labels.severity])))
  })
})

function runbookProblem(rule: AlertRule): string | undefined {
  const url = rule.annotations.runbook_url ?? ''
  const [path, anchor] = url.split('#')
  if (!path?.startsWith('docs/runbooks/') || !anchor)
    return `${rule.alert}: runbook_url is not docs/runbooks/<file>#<anchor>`
  if (!existsSync(`${ROOT}${path}`)) return `${rule.alert}: ${path} does not exist`
  if (anchor !== rule.alert.toLowerCase()) return `${rule.alert}: the anchor is not the alert's name`
  if (!headingAnchors(readFileSync(`${ROOT}${path}`, 'utf8')).has(anchor))
    return `${rule.alert}: no heading #${anchor} in ${path}`
  return undefined
}

// The design notes (docs/design/) name the three metrics of the first release with their alerts: quoted as alerts.yml
// has them, so a threshold changed in one place and not the other fails here.
describe.each([
  'docs/design/webhook-pipeline.md',
  'docs/design/event-log.md',
  'docs/design/feed.md',
  'docs/design/analytics.md',
])('%s', (path) => {
  const normal = (expr: string) => expr.replace(/\\\|/g, '|').replace(/\s+/g, ' ').trim()
  const rows = tableAfter(readFileSync(`${ROOT}${path}`, 'utf8'), '## The three metrics of the first release')

  it('names three metrics, each with its alert', () => {
    const metrics = rows.map(([metric = '']) => metric).filter((m) => m !== 'the same')
    expect(metrics).toHaveLength(3)
  })

  it('quotes each alert as alerts.yml has it: expression, `for` and severity', () => {
    expect(rows.length).toBeGreaterThanOrEqual(3)
    for (const [, alert = '', expr = '', forCell = '', severity = ''] of rows) {
      const name = alert.replace(/`/g, '')
      const rule = rules.find((r) => r.alert === name)
      expect({ name, expr: normal(expr.replace(/^`|`$/g, '')), for: forCell, severity }).toEqual({
        name,
        expr: normal(rule?.expr ?? 'no such alert'),
        for: rule?.for,
        severity: rule?.labels.severity,
      })
    }
  })
})
