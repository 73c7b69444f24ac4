/**
 * The value of one sample in a Prometheus text scrape (`name` or `name{labels}`, the first one listed), 0 when it is
 * absent: how the benchmarks read a service's or a registry's counters.
 */
export function sampleValue(scrape: string, name: string): number {
  return Number(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'm').exec(scrape)?.[2] ?? 0)
}
