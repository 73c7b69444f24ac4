/**
 * What each feed load run prints beside its latencies: the queue backlog (RabbitMQ's management API: messages ready
 * or unacknowledged in the run's vhost, plus the outbox rows not yet relayed to it) and the cache hit ratio (the
 * feed's `feed_cache_requests_total{cache,result}` from /metrics, counted over the run).
 */
import type { Sql } from '@platform/db'
import { rabbitAdmin } from '@platform/testing'

export interface Backlog {
  /** Messages in the vhost's queues (the management API's figure, refreshed every few seconds). */
  queued: number
  /** Outbox rows the relay has not published yet. */
  outbox: number
}

export async function backlog(sql: Sql, vhost: string): Promise<Backlog> {
  const queues = await rabbitAdmin()
    .call<{ name: string; messages?: number }[]>('GET', `/queues/${encodeURIComponent(vhost)}?columns=name,messages`)
    .catch(() => [])
  const [row] = await sql<{ n: number }[]>`select count(*)::int as n from outbox`
  return { queued: queues.reduce((sum, q) => sum + (q.messages ?? 0), 0), outbox: row?.n ?? 0 }
}

/** `feed_cache_requests_total` per `cache` and `result` label, from a Prometheus text scrape. */
export function cacheCounters(scrape: string): Map<string, { hit: number; miss: number }> {
  const out = new Map<string, { hit: number; miss: number }>()
  for (const m of scrape.matchAll(/^feed_cache_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries(
      [...(m[1] as string).matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1] as string, l[2] as string]),
    )
    const cache = labels.cache ?? '?'
    const entry = out.get(cache) ?? { hit: 0, miss: 0 }
    if (labels.result === 'hit') entry.hit += Number(m[2])
    else entry.miss += Number(m[2])
    out.set(cache, entry)
  }
  return out
}

export async function scrape(url: string): Promise<string> {
  return fetch(`${url}/metrics`)
    .catch(() => fetch(`${url}/metrics`))
    .then((r) => r.text())
    .catch(() => '')
}

/** "timeline 97.1% (12,000 of 12,360), hot 99.9% (...)" over the counters' growth between two scrapes; "n/a" when the feed counts none. */
export function hitRatio(before: string, after: string): string {
  const a = cacheCounters(before)
  const b = cacheCounters(after)
  const parts: string[] = []
  for (const [cache, end] of b) {
    const start = a.get(cache) ?? { hit: 0, miss: 0 }
    const hit = end.hit - start.hit
    const total = hit + end.miss - start.miss
    if (total > 0) parts.push(`${cache} ${((hit / total) * 100).toFixed(1)}% of ${total}`)
  }
  return parts.length > 0 ? parts.join(', ') : b.size === 0 ? 'n/a (no feed_cache_requests_total)' : 'no lookups'
}
