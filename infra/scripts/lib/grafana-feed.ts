import type { RowSpec } from './grafana.js'
import {
  consumersRow,
  healthRow,
  httpRow,
  outboxRow,
  ownQueues,
  quantile,
  queuesRow,
  RATE,
  sel,
} from './grafana-rows.js'

/**
 * The Feed dashboard: the feed API (`service="feed"`) and its fan-out worker (`service="feed-worker"`), whose own
 * metrics are those of docs/feed.md and docs/operations.md#metrics. Where an alert of the `feed` group
 * (infra/prometheus/alerts.yml) watches a panel's quantity, the panel uses its expression and says where it fires.
 */
export const PUSH = 'path="push"'
/** The alert's own selection of login failures (alerts.yml FeedLoginFailures): the provider's side or ours. */
const LOGIN_FAILED =
  'outcome=~"identity_provider_unavailable|identity_provider_error|authorization_code_rejected|invalid_id_token|error"'
const titled = (row: RowSpec, title: string): RowSpec => ({ ...row, title })

export const feedRows: RowSpec[] = [
  {
    title: 'Fan-out (feed-worker)',
    panels: [
      {
        title: 'Fan-out lag (post committed to a follower batch written)',
        description:
          'FeedFanOutLagAboveTarget fires above 2 s p99 (the consistency window) for 5 minutes, FeedFanOutLagHigh ' +
          "pages above 60 s. Pull: a large account's list, which no reader waits for.",
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'feed_fanout_lag_seconds', [], [PUSH]), legend: 'p99 push' },
          { expr: quantile(0.5, 'feed_fanout_lag_seconds', [], [PUSH]), legend: 'p50 push' },
          { expr: quantile(0.99, 'feed_fanout_lag_seconds', [], ['path="pull"']), legend: 'p99 pull' },
        ],
      },
      {
        title: 'Entries written by store and source',
        description: 'postgres: new user_feed rows; redis: timelines written (active users only).',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (store, source) (rate(feed_entries_written_total${RATE}))`,
            legend: '{{store}} {{source}}',
          },
        ],
      },
      {
        title: 'Batches enqueued and posts pulled',
        description: "Stage 1: one batch per 1,000 followers; large accounts' posts are merged at read time instead.",
        unit: 'ops',
        targets: [
          { expr: `sum (rate(feed_fanout_batches_total${RATE}))`, legend: 'follower batches' },
          { expr: `sum (rate(feed_fanout_pull_posts_total${RATE}))`, legend: 'large-account posts' },
        ],
      },
      {
        title: 'Processing p99 by handler',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'feed_worker_processing_seconds', ['handler']), legend: '{{handler}}' }],
      },
      {
        title: 'Messages handled by handler',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (handler) (rate(feed_worker_processing_seconds_count${RATE}))`,
            legend: '{{handler}}',
          },
        ],
      },
      {
        title: 'Retry tiers (feed.*)',
        description: 'Messages waiting out their delay before the next attempt: a dependency failing.',
        unit: 'short',
        targets: [
          {
            expr: String.raw`sum by (queue) (rabbitmq_detailed_queue_messages{queue=~"feed\\..+\\.retry\\..+"})`,
            legend: '{{queue}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Reads and caches (feed)',
    panels: [
      {
        title: 'Cache hit ratio by cache',
        description:
          'timeline: personal-feed pages from Redis; FeedTimelineCacheHitRatioLow fires below 80 % for 15 minutes. ' +
          'hot: first pages of the hot feed served without waiting for a ranking.',
        unit: 'percentunit',
        targets: [
          {
            expr: `sum by (cache) (rate(feed_cache_requests_total{result="hit"}${RATE})) / sum by (cache) (rate(feed_cache_requests_total${RATE}))`,
            legend: '{{cache}}',
          },
        ],
      },
      {
        title: 'Pages by cache and result',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (cache, result) (rate(feed_cache_requests_total${RATE}))`,
            legend: '{{cache}} {{result}}',
          },
        ],
      },
      {
        title: 'Timelines rebuilt into Redis',
        description: "Rising with misses: Redis lost keys (eviction, a flush); each user's next page rebuilds theirs.",
        unit: 'ops',
        targets: [{ expr: `sum (rate(feed_timeline_rebuilds_total${RATE}))`, legend: 'rebuilds' }],
      },
    ],
  },
  {
    title: 'Hot feed (feed)',
    panels: [
      {
        title: 'Recomputes per minute by result',
        description:
          'About two a minute for the whole cluster (one per 30 s expiry); more: the lock is not working. ' +
          'FeedHotRecomputeFailing pages when errors come and none succeeds for 5 minutes.',
        unit: 'short',
        targets: [{ expr: `60 * sum by (result) (rate(feed_hot_recomputes_total${RATE}))`, legend: '{{result}}' }],
      },
      {
        title: 'Recompute duration',
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'feed_hot_recompute_duration_seconds', []), legend: 'p99' },
          { expr: quantile(0.5, 'feed_hot_recompute_duration_seconds', []), legend: 'p50' },
        ],
      },
      {
        title: 'Lock waits per minute',
        description: 'Refreshes that found another instance holding the recompute lock.',
        unit: 'short',
        targets: [{ expr: `60 * sum (rate(feed_hot_lock_waits_total${RATE}))`, legend: 'lock waits' }],
      },
      {
        title: 'Like buckets rebuilt from likes (feed-worker)',
        description:
          'One per Redis flush or empty restart; errors and no ok: the hot feed ranks by part of its likes ' +
          '(FeedHotBucketRebuildFailing).',
        unit: 'short',
        targets: [{ expr: `sum by (result) (increase(feed_hot_bucket_rebuilds_total${RATE}))`, legend: '{{result}}' }],
      },
      {
        title: 'Like buckets whole (feed-worker)',
        description:
          "1: the workers found the buckets' marker at their last check; 0: they wait for or undergo a rebuild. " +
          '0 for 30 minutes: a rebuild that hangs or keeps dying (FeedHotBucketsIncomplete).',
        unit: 'short',
        targets: [{ expr: 'max (feed_hot_buckets_complete)', legend: 'whole' }],
      },
    ],
  },
  {
    title: 'Logins and sessions (feed)',
    panels: [
      {
        title: 'Logins by provider and outcome',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (provider, outcome) (rate(feed_logins_total${RATE}))`,
            legend: '{{provider}} {{outcome}}',
          },
        ],
      },
      {
        title: 'Login failures by provider (its side or ours)',
        description: 'FeedLoginFailures fires above 25 % (at least 5 callbacks in 10 minutes) for 10 minutes.',
        unit: 'percentunit',
        targets: [
          {
            expr: `sum by (provider) (rate(feed_logins_total${sel(LOGIN_FAILED)}${RATE})) / sum by (provider) (rate(feed_logins_total${RATE}))`,
            legend: '{{provider}}',
          },
        ],
      },
      {
        title: 'Refresh-token reuse in 15 minutes',
        description:
          'revoked: a session revoked for a replayed token (FeedRefreshTokenReuseSpike fires above 10); grace: two ' +
          'refreshes raced, refused without revoking.',
        unit: 'short',
        targets: [{ expr: 'sum by (outcome) (increase(feed_refresh_token_reuse_total[15m]))', legend: '{{outcome}}' }],
      },
    ],
  },
  titled(consumersRow('feed-worker'), 'Consumers (feed-worker)'),
  queuesRow('Queues (feed.*)', ownQueues('feed')),
  titled(outboxRow('feed'), 'Outbox (feed)'),
  titled(outboxRow('feed-worker'), 'Outbox (feed-worker: follower batches)'),
  titled(httpRow('feed'), 'HTTP (feed)'),
  titled(healthRow('feed'), 'Health (feed)'),
  titled(healthRow('feed-worker'), 'Health (feed-worker)'),
]
