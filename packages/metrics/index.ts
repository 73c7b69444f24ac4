import { Counter, Gauge, Histogram, type Metric, Registry } from 'prom-client'

/**
 * One registry per service instance (not prom-client's global one), so tests can build several apps in one
 * process. Mechanisms (consumer, outbox relay, http) ask for their metrics through these getters, which return
 * the already-registered metric when a second consumer or relay in the same process asks for it again.
 */
export function createRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry()
  registry.setDefaultLabels(defaultLabels)
  return registry
}

function getOrCreate<M extends Metric>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create()
}

export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
) {
  return getOrCreate(registry, name, () => new Counter<L>({ name, help, labelNames, registers: [registry] }))
}

/** How long a scrape waits for a gauge's asynchronous collect (a database query, say) before it reports without it. */
export const COLLECT_TIMEOUT_MS = 2000

/**
 * A collect that waits on I/O can hang while its dependency is half down (a query on a connection that neither
 * answers nor closes), and prom-client's scrape waits for every collect: one stuck query would hang /metrics until
 * Prometheus times the whole scrape out, losing every other metric with it. Bounded, the scrape goes on after
 * COLLECT_TIMEOUT_MS with the gauge's last value (readiness is what reports the dependency). A collect that rejects
 * still fails the scrape, as before; the platform's collectors catch their errors themselves.
 */
function bounded<L extends string>(collect: (this: Gauge<L>) => void | Promise<void>) {
  return function (this: Gauge<L>): void | Promise<void> {
    const result = collect.call(this)
    if (!(result instanceof Promise)) return result
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, COLLECT_TIMEOUT_MS)
    })
    return Promise.race([result, late]).finally(() => clearTimeout(timer))
  }
}

export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  collect?: (this: Gauge<L>) => void | Promise<void>,
) {
  return getOrCreate(
    registry,
    name,
    () =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers: [registry],
        ...(collect ? { collect: bounded(collect) } : {}),
      }),
  )
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets?: number[],
) {
  return getOrCreate(
    registry,
    name,
    () => new Histogram<L>({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets } : {}) }),
  )
}

export { describeMetrics, type MetricDescription } from './lib/catalog.js'
export { type ExposedMetric, exposedMetrics, metricNamingProblems } from './lib/naming.js'
export { createProgressMonitor, type ProgressMonitor, StalledError } from './lib/progress.js'
export type { Counter, Gauge, Histogram, Registry }
