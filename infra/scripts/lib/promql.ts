/**
 * The metric names a PromQL expression selects, without a PromQL parser: enough for the expressions of
 * infra/prometheus/alerts.yml and infra/grafana/dashboards, which the tests check against the metrics the services
 * and RabbitMQ export (a typo in a metric name is valid PromQL that silently selects nothing). Whether an
 * expression parses at all is promtool's to say (`promtool check rules`).
 * https://prometheus.io/docs/prometheus/latest/querying/basics/
 */

/** Words that are not metric names: operators, modifiers, and the keywords that take a list of label names. */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])
const LABEL_LISTS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right'])

/** Drops string literals, label matchers `{...}` and ranges `[...]`, keeping the expression's shape. */
function skeleton(expr: string): string {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
}

export function metricNamesIn(expr: string): string[] {
  const text = skeleton(expr)
  const names = new Set<string>()
  const token = /[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?[a-zA-Z]*|[a-zA-Z_:][a-zA-Z0-9_:]*|./gs
  let skipList = false
  let depth = 0
  for (const match of text.matchAll(token)) {
    const word = match[0]
    const at = (match.index ?? 0) + word.length
    if (skipList) {
      // Inside the label list after `by`, `on`, ...: names there are labels.
      if (word === '(') depth++
      else if (word === ')' && --depth === 0) skipList = false
      continue
    }
    if (!/^[a-zA-Z_:]/.test(word)) continue
    const lower = word.toLowerCase()
    if (LABEL_LISTS.has(lower)) {
      if (/^\s*\(/.test(text.slice(at))) {
        skipList = true
        depth = 0
      }
      continue
    }
    if (KEYWORDS.has(lower)) continue
    // A function or an aggregation: `rate(`, `sum (`, `histogram_quantile(`.
    if (/^\s*\(/.test(text.slice(at))) continue
    // An aggregation whose label list comes first: `sum by (le) (...)`.
    if (/^\s+(by|without)\s*\(/i.test(text.slice(at))) continue
    names.add(word)
  }
  return [...names].sort()
}

/** The series names a metric is exposed under: a histogram's `_bucket`, `_sum` and `_count`, a summary's too. */
export function seriesNamesOf(metric: { name: string; type: string }): string[] {
  if (metric.type === 'histogram') return ['bucket', 'sum', 'count'].map((s) => `${metric.name}_${s}`)
  if (metric.type === 'summary') return [metric.name, `${metric.name}_sum`, `${metric.name}_count`]
  return [metric.name]
}

/** Series Prometheus makes itself, per target and per alert. */
export const PROMETHEUS_SERIES = [
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'ALERTS',
  'ALERTS_FOR_STATE',
]
