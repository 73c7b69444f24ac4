import { counter, histogram, type Registry } from '@platform/metrics'

/**
 * The metrics of the feed's reads (docs/feed.md#metrics, names after @platform/metrics naming.ts):
 *
 *   - `feed_cache_requests_total{cache,result}`: pages of the personal feed (`cache="timeline"`) and of the hot
 *     feed (`cache="hot"`), `result="hit"` when Redis answered, `"miss"` when PostgreSQL did (personal feed: an
 *     evicted or inactive user, a cursor past the Redis window) or the request waited for a recompute (hot feed; a
 *     stale snapshot served while another is computed counts as a hit). The hit ratio is hit / (hit + miss).
 *   - `feed_timeline_rebuilds_total`: timelines rebuilt from the read model into Redis.
 *   - `feed_hot_recomputes_total{result}` and `feed_hot_recompute_duration_seconds`: hot-feed rankings computed,
 *     across instances one per expiry of the cache.
 *   - `feed_hot_lock_waits_total`: refreshes that found another instance holding the lock and waited for it.
 */
export function createFeedMetrics(registry: Registry) {
  return {
    cacheRequests: counter(registry, 'feed_cache_requests_total', 'Feed pages by cache and result (hit: Redis)', [
      'cache',
      'result',
    ]),
    timelineRebuilds: counter(registry, 'feed_timeline_rebuilds_total', 'Timelines rebuilt from PostgreSQL to Redis'),
    hotRecomputes: counter(registry, 'feed_hot_recomputes_total', 'Hot-feed rankings computed', ['result']),
    hotRecomputeSeconds: histogram(
      registry,
      'feed_hot_recompute_duration_seconds',
      'Time to compute and store one hot-feed ranking',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ),
    hotLockWaits: counter(registry, 'feed_hot_lock_waits_total', 'Hot-feed refreshes that waited for another holder'),
  }
}

export type FeedMetrics = ReturnType<typeof createFeedMetrics>
