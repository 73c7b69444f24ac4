import type { Registry } from 'prom-client'

/**
 * What a registry holds, label names included: a /metrics scrape shows a labelled metric's labels only once it has
 * a sample, and the metrics table of docs/operations.md, the alert rules and the dashboards are checked against
 * every metric a service registers (infra/scripts/test/metrics-catalog.int.test.ts), observed or not.
 */
export interface MetricDescription {
  name: string
  type: string
  help: string
  /** The metric's own labels, sorted; the registry's default labels (`service`) are not among them. */
  labelNames: string[]
}

/** prom-client sets these on every metric object; its type declarations leave `labelNames` out. */
interface MetricInternals {
  name: string
  help: string
  type: string
  labelNames?: readonly string[]
}

export function describeMetrics(registry: Registry): MetricDescription[] {
  return registry
    .getMetricsAsArray()
    .map((metric) => {
      const { name, help, type, labelNames } = metric as unknown as MetricInternals
      return { name, type: String(type), help, labelNames: [...(labelNames ?? [])].sort() }
    })
    .sort((a, b) => a.name.localeCompare(b.name))
}
