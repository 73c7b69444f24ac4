import type { MetricDescription } from '../../../packages/metrics/index.js'

/**
 * The metrics table of docs/operations.md ("## Metrics": metric | type | labels | service | meaning), read so a test
 * can hold it against what the services register: every metric listed once with its type, labels and services,
 * nothing listed that no service exports. prom-client's defaults (`process_*`, `nodejs_*`) are one row of prefixes.
 */
export interface MetricsTableRow {
  /** A name, or prefixes ending in `*`. */
  names: string[]
  type: string
  labels: string[]
  /** `all`, or the services named. */
  services: string[] | 'all'
  meaning: string
}

const cells = (line: string) =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim())
const codeSpans = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)

/** The first table after `heading` (a line such as `## Metrics`), up to the next heading. */
export function tableAfter(markdown: string, heading: string): string[][] {
  const start = markdown.split('\n').findIndex((l) => l.trim() === heading)
  if (start < 0) return []
  const rows: string[][] = []
  for (const line of markdown.split('\n').slice(start + 1)) {
    if (/^#{1,6} /.test(line)) break
    if (line.trim().startsWith('|')) rows.push(cells(line))
    else if (rows.length > 0) break
  }
  // The header and the |---| line.
  return rows.slice(2)
}

export function parseMetricsTable(markdown: string): MetricsTableRow[] {
  return tableAfter(markdown, '## Metrics').map(
    ([metric = '', type = '', labels = '', services = '', meaning = '']) => ({
      names: codeSpans(metric),
      type,
      labels: codeSpans(labels).sort(),
      services:
        services === 'all'
          ? 'all'
          : services
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
              .sort(),
      meaning,
    }),
  )
}

const covers = (pattern: string, name: string) =>
  pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name

/** One sentence per difference between the table and the registries; empty when they agree. */
export function metricsTableProblems(rows: MetricsTableRow[], exported: Record<string, MetricDescription[]>): string[] {
  const problems: string[] = []
  const services = Object.keys(exported).sort()
  const byName = new Map<string, { metric: MetricDescription; services: string[] }>()
  for (const [service, metrics] of Object.entries(exported)) {
    for (const metric of metrics) {
      const entry = byName.get(metric.name) ?? { metric, services: [] }
      entry.services.push(service)
      byName.set(metric.name, entry)
    }
  }
  const wildcards = rows.filter((r) => r.names.some((n) => n.endsWith('*')))
  for (const [name, { metric, services: by }] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
    if (wildcards.some((r) => r.names.some((n) => covers(n, name)))) continue
    const listed = rows.filter((r) => r.names.includes(name))
    const expected = by.length === services.length ? 'all' : by.sort().join(', ')
    if (listed.length !== 1) {
      problems.push(
        listed.length === 0
          ? `${name} is not in the table; add: | \`${name}\` | ${metric.type} | ${metric.labelNames.map((l) => `\`${l}\``).join(', ')} | ${expected} | ${metric.help} |`
          : `${name} is listed ${listed.length} times`,
      )
      continue
    }
    const row = listed[0] as MetricsTableRow
    if (row.type !== metric.type)
      problems.push(`${name}: the table says ${row.type}, the service registers a ${metric.type}`)
    if (row.labels.join(',') !== metric.labelNames.join(',')) {
      problems.push(`${name}: the table's labels are [${row.labels}], the metric's [${metric.labelNames}]`)
    }
    const rowServices = row.services === 'all' ? 'all' : row.services.join(', ')
    if (rowServices !== expected) problems.push(`${name}: the table says ${rowServices}, exported by ${expected}`)
    if (!row.meaning) problems.push(`${name}: no meaning`)
  }
  for (const row of rows) {
    for (const name of row.names) {
      const exportedNames = [...byName.keys()]
      if (!exportedNames.some((n) => covers(name, n)))
        problems.push(`${name} is in the table, and no service exports it`)
    }
  }
  return problems
}
