import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/**
 * infra/prometheus as the tests read it: the alert rules, their promtool unit tests, and promtool itself (Debian's
 * `prometheus` package, 2.42; infra/scripts/ensure-infra.sh installs it).
 */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const PROMETHEUS_DIR = fileURLToPath(new URL('../../prometheus/', import.meta.url))
export const CONFIG_FILE = `${PROMETHEUS_DIR}prometheus.yml`
export const RULES_FILE = `${PROMETHEUS_DIR}alerts.yml`
export const RULE_TESTS_DIR = `${PROMETHEUS_DIR}tests/`

export interface AlertRule {
  group: string
  alert: string
  expr: string
  for?: string
  labels: Record<string, string>
  annotations: Record<string, string>
}

interface RuleFile {
  groups: { name: string; rules: (Partial<AlertRule> & { record?: string })[] }[]
}

export function loadAlertRules(file = RULES_FILE): AlertRule[] {
  const { groups } = parse(readFileSync(file, 'utf8')) as RuleFile
  return groups.flatMap((group) =>
    group.rules.flatMap((rule) =>
      rule.alert
        ? [
            {
              group: group.name,
              alert: rule.alert,
              expr: String(rule.expr ?? ''),
              ...(rule.for === undefined ? {} : { for: String(rule.for) }),
              labels: rule.labels ?? {},
              annotations: rule.annotations ?? {},
            },
          ]
        : [],
    ),
  )
}

export interface RuleTestCase {
  file: string
  name: string
  inputSeries: string[]
  evalTime: string
  alertname: string
  expAlerts: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[]
}

interface RuleTestFile {
  tests: {
    name?: string
    input_series?: { series: string }[]
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: RuleTestCase['expAlerts'] }[]
  }[]
}

export function ruleTestFiles(): string[] {
  return readdirSync(RULE_TESTS_DIR)
    .filter((f) => f.endsWith('.test.yml'))
    .sort()
    .map((f) => `${RULE_TESTS_DIR}${f}`)
}

/** Every alert_rule_test of tests/*.test.yml, with the input series of its test group. */
export function loadRuleTests(): RuleTestCase[] {
  return ruleTestFiles().flatMap((file) => {
    const { tests } = parse(readFileSync(file, 'utf8')) as RuleTestFile
    return tests.flatMap((group) =>
      (group.alert_rule_test ?? []).map((t) => ({
        file,
        name: group.name ?? '',
        inputSeries: (group.input_series ?? []).map((s) => s.series),
        evalTime: t.eval_time,
        alertname: t.alertname,
        expAlerts: t.exp_alerts ?? [],
      })),
    )
  })
}

/** `name{a="b", c="d"}` -> its labels. */
export function seriesLabels(series: string): Record<string, string> {
  const body = /\{(.*)\}/s.exec(series)?.[1] ?? ''
  return Object.fromEntries(
    [...body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
  )
}

/** Prometheus durations as seconds: `1m`, `90s`, `1h30m`. */
export function durationSeconds(text: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 }
  let total = 0
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) total += Number(n) * (units[unit as string] ?? 0)
  return total
}

export const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p)) ?? 'promtool'

/** Runs promtool; its output (stdout and stderr) is what a failing test shows. */
export function promtool(args: string[], cwd = PROMETHEUS_DIR): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 60_000 })
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error("promtool not found: install Debian's `prometheus` package (infra/scripts/ensure-infra.sh does)")
  }
  if (result.error) throw result.error
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/** GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens. */
export function headingAnchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+?)\s*$/gm)].map((m) =>
      (m[1] as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  )
}
