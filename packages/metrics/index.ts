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
    () => new Gauge<L>({ name, help, labelNames, registers: [registry], ...(collect ? { collect } : {}) }),
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

export type { Counter, Gauge, Histogram, Registry }
