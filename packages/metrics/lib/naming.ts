/**
 * The platform's metric naming convention, after Prometheus' (https://prometheus.io/docs/practices/naming/), checked
 * against a /metrics scrape by every service's basics test (@platform/http/testing). docs/operations.md#metrics
 * lists every name.
 *
 *   - snake_case: `[a-z][a-z0-9_]*`;
 *   - a counter ends in `_total`, and nothing else does;
 *   - base units: time in `_seconds` (a name about a duration, latency, lag or age ends so), never `_ms`;
 *   - one prefix per domain: no prefix in both its singular and plural form (`webhook_` and `webhooks_`).
 *
 * prom-client's default metrics (`process_`, `nodejs_`) are not ours: their gauges `nodejs_active_handles_total`
 * and the like break the `_total` rule upstream, so only the rules that they keep are applied to them.
 */
export interface ExposedMetric {
  name: string
  type: string
}

const DEFAULT_PREFIXES = ['process_', 'nodejs_']
const TIME_WORDS = /(^|_)(duration|latency|lag|age|elapsed|time)(_|$)/
const NON_BASE_UNITS =
  /(^|_)(ms|millis|milliseconds|us|microseconds|ns|nanoseconds|minutes|hours|days|kilobytes|megabytes)(_|$)/

/** The `# TYPE name type` lines of a Prometheus text exposition. */
export function exposedMetrics(exposition: string): ExposedMetric[] {
  return [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => ({
    name: name as string,
    type: type as string,
  }))
}

/** One sentence per broken rule; empty when every metric follows the convention. */
export function metricNamingProblems(metrics: ExposedMetric[]): string[] {
  const problems: string[] = []
  for (const { name, type } of metrics) {
    const ours = !DEFAULT_PREFIXES.some((prefix) => name.startsWith(prefix))
    if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push(`${name}: not snake_case`)
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: a counter's name ends in _total`)
    if (ours && type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: only counters end in _total`)
    if (NON_BASE_UNITS.test(name)) problems.push(`${name}: use base units (seconds, bytes)`)
    const unitless = name.replace(/_total$/, '')
    if (TIME_WORDS.test(unitless) && !unitless.endsWith('_seconds')) problems.push(`${name}: a time ends in _seconds`)
  }
  const prefixes = new Set(metrics.map(({ name }) => name.split('_')[0] as string))
  for (const prefix of prefixes) {
    if (prefixes.has(`${prefix}s`)) problems.push(`${prefix}_ and ${prefix}s_: one prefix per domain, not both forms`)
  }
  return problems
}
