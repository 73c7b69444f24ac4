import type { DashboardSpec, PanelSpec, RowSpec } from './grafana.js'
import { feedRows, PUSH } from './grafana-feed.js'
import { consumersRow, httpRow, ownQueues, quantile, queuesRow, RATE, sel, standard, svc } from './grafana-rows.js'

/**
 * What the dashboards show: one overview (rates, errors, latency, backlogs, DLQs per service) and one per service
 * (the feed's, API and worker, in grafana-feed.ts).
 * The expressions are those of infra/prometheus/alerts.yml where an alert watches the same thing, so a panel shows
 * the line an alert crosses. Every metric named here is checked against the services' registries and RabbitMQ's
 * exposition (infra/scripts/test/metrics-catalog.int.test.ts); docs/operations.md#metrics says what each means.
 */
const ingest: RowSpec[] = [
  {
    title: 'Webhooks',
    panels: [
      {
        title: 'Received by source and result',
        unit: 'reqps',
        targets: [
          { expr: `sum by (source, result) (rate(webhook_received_total${RATE}))`, legend: '{{source}} {{result}}' },
        ],
      },
      {
        title: 'Rejected by reason',
        description: 'WebhookAcceptanceErrors fires when "unavailable" (503, not stored) is above 1 % for 5 minutes.',
        unit: 'reqps',
        targets: [{ expr: `sum by (reason) (rate(webhook_rejected_total${RATE}))`, legend: '{{reason}}' }],
      },
      {
        title: 'Signature failures by source and reason',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (source, reason) (rate(webhook_signature_failures_total${RATE}))`,
            legend: '{{source}} {{reason}}',
          },
        ],
      },
      {
        title: 'ACK latency',
        description: 'WebhookAckLatencyHigh pages above 250 ms p99 for 10 minutes; the target is 50 ms.',
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'webhook_ack_duration_seconds', []), legend: 'p99' },
          { expr: quantile(0.5, 'webhook_ack_duration_seconds', []), legend: 'p50' },
        ],
      },
      {
        title: 'ACK p99 by source',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'webhook_ack_duration_seconds', ['source']), legend: '{{source}}' }],
      },
      {
        title: 'Status updates by outcome',
        unit: 'ops',
        targets: [{ expr: `sum by (outcome) (rate(webhook_status_updates_total${RATE}))`, legend: '{{outcome}}' }],
      },
    ],
  },
  {
    title: 'Group commit',
    panels: [
      {
        title: 'Batch size',
        description: 'Near 128 (GROUP_COMMIT_MAX_BATCH): saturated.',
        unit: 'short',
        targets: [
          { expr: quantile(0.99, 'webhook_group_commit_batch_size', []), legend: 'p99' },
          { expr: quantile(0.5, 'webhook_group_commit_batch_size', []), legend: 'p50' },
        ],
      },
      {
        title: 'Commit duration',
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'webhook_group_commit_duration_seconds', []), legend: 'p99' },
          { expr: quantile(0.5, 'webhook_group_commit_duration_seconds', []), legend: 'p50' },
        ],
      },
      {
        title: 'Failed batches (retried one by one)',
        unit: 'ops',
        targets: [{ expr: `sum (rate(webhook_group_commit_failures_total${RATE}))`, legend: 'failed batches' }],
      },
    ],
  },
  consumersRow('ingest'),
  queuesRow('Queues (ingest.*)', ownQueues('ingest')),
]

const processor: RowSpec[] = [
  {
    title: 'Webhook processing',
    panels: [
      {
        title: 'Processed by source and outcome',
        unit: 'ops',
        targets: [
          { expr: `sum by (source, outcome) (rate(webhook_processed_total${RATE}))`, legend: '{{source}} {{outcome}}' },
        ],
      },
      {
        title: 'Failed or dead attempts',
        description: 'WebhookProcessingFailures fires above 10 % of a source for 10 minutes.',
        unit: 'percentunit',
        targets: [
          {
            expr: `sum by (source) (rate(webhook_processed_total{outcome=~"failed|dead"}${RATE})) / sum by (source) (rate(webhook_processed_total${RATE}))`,
            legend: '{{source}}',
          },
        ],
      },
      {
        title: 'Processing p99 by outcome',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'webhook_processing_duration_seconds', ['outcome']), legend: '{{outcome}}' }],
      },
      {
        title: 'Downstream calls by outcome',
        description: 'DownstreamNotificationFailures fires above 20 % failing for 10 minutes.',
        unit: 'ops',
        targets: [{ expr: `sum by (outcome) (rate(downstream_requests_total${RATE}))`, legend: '{{outcome}}' }],
      },
      {
        title: 'Retry tiers',
        description: 'Messages waiting out their delay before the next attempt.',
        unit: 'short',
        targets: [
          {
            expr: String.raw`sum by (queue) (rabbitmq_detailed_queue_messages{queue=~"processor\\..+\\.retry\\..+"})`,
            legend: '{{queue}}',
          },
        ],
      },
    ],
  },
  consumersRow('processor'),
  queuesRow('Queues (processor.*)', ownQueues('processor')),
]

const shipper = svc('log-shipper')
const logShipper: RowSpec[] = [
  {
    title: 'Shipping to ClickHouse',
    panels: [
      {
        title: 'Events received and rows inserted',
        description: 'LogShipperNotShipping pages when nothing is inserted for 15 minutes while events wait.',
        unit: 'ops',
        targets: [
          { expr: `sum (rate(log_shipper_events_received_total${RATE}))`, legend: 'events received' },
          { expr: `sum (rate(log_shipper_rows_inserted_total${RATE}))`, legend: 'rows inserted' },
          { expr: `sum (rate(log_shipper_failed_rows_total${RATE}))`, legend: 'rows rejected' },
          { expr: `sum (rate(log_shipper_already_shipped_total${RATE}))`, legend: 'already shipped' },
        ],
      },
      {
        title: 'Inserts by outcome',
        description: 'ClickHouseWritesFailing fires while "unavailable" inserts continue for 5 minutes.',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (outcome) (rate(log_shipper_insert_duration_seconds_count${RATE}))`,
            legend: '{{outcome}}',
          },
        ],
      },
      {
        title: 'Insert p99 by outcome',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'log_shipper_insert_duration_seconds', ['outcome']), legend: '{{outcome}}' }],
      },
      {
        title: 'Batch rows',
        description: 'p50 near 1 under load: batches flush on time only.',
        unit: 'short',
        targets: [
          { expr: quantile(0.5, 'log_shipper_batch_rows', []), legend: 'p50' },
          { expr: quantile(0.99, 'log_shipper_batch_rows', []), legend: 'p99' },
        ],
      },
      {
        title: 'Batch bytes',
        unit: 'bytes',
        targets: [{ expr: quantile(0.5, 'log_shipper_batch_bytes', []), legend: 'p50' }],
      },
      {
        title: 'Oldest claim-checked context',
        description: 'ClaimCheckPayloadWaiting fires above 15 minutes.',
        unit: 's',
        targets: [{ expr: `max (log_shipper_oldest_claim_check_seconds)`, legend: 'oldest' }],
      },
    ],
  },
  {
    title: 'Bulk consumer',
    panels: [
      {
        title: 'Delivered, acked, dead-lettered',
        unit: 'ops',
        targets: [
          { expr: `sum (rate(bulk_consumer_received_total${sel(shipper)}${RATE}))`, legend: 'delivered' },
          { expr: `sum (rate(bulk_consumer_acked_total${sel(shipper)}${RATE}))`, legend: 'acked' },
          { expr: `sum (rate(bulk_consumer_dead_lettered_total${sel(shipper)}${RATE}))`, legend: 'dead-lettered' },
          {
            expr: `sum (rate(bulk_consumer_batch_failures_total${sel(shipper)}${RATE}))`,
            legend: 'failed batch attempts',
          },
        ],
      },
      {
        title: 'Pending and queue depth',
        description: 'Pending stuck at the prefetch (20,000): batches do not land.',
        unit: 'short',
        targets: [
          { expr: `sum (bulk_consumer_pending${sel(shipper)})`, legend: 'delivered, not acked' },
          { expr: `max (bulk_consumer_queue_depth${sel(shipper)})`, legend: 'ready in the queue' },
        ],
      },
      {
        title: 'Oldest unshipped event',
        description: 'LogShipperLagHigh fires above 5 minutes.',
        unit: 's',
        targets: [
          { expr: `max by (instance) (bulk_consumer_oldest_pending_seconds${sel(shipper)})`, legend: '{{instance}}' },
        ],
      },
    ],
  },
  queuesRow('Queues (log-shipper.*)', ownQueues('log-shipper')),
]

const overviewPanels: PanelSpec[] = [
  {
    title: 'Alerts firing',
    unit: 'short',
    targets: [
      { expr: 'sum by (alertname, severity) (ALERTS{alertstate="firing"})', legend: '{{severity}} {{alertname}}' },
    ],
  },
  {
    title: 'Targets up',
    description: 'ServiceDown fires on a target down for 2 minutes.',
    unit: 'short',
    targets: [{ expr: 'min by (job) (up)', legend: '{{job}}' }],
  },
  {
    title: 'Services not ready (checks failing)',
    description: 'ServiceNotReady fires on a failing check for 2 minutes.',
    unit: 'short',
    targets: [{ expr: 'sum by (service) (1 - readiness_check_ok)', legend: '{{service}}' }],
  },
]

const overview: RowSpec[] = [
  { title: 'Health', panels: overviewPanels },
  {
    title: 'Rates and errors',
    panels: [
      ingest[0]?.panels[0] as PanelSpec,
      {
        title: 'Webhooks not stored (503 ratio)',
        description: 'WebhookAcceptanceErrors pages above 1 % for 5 minutes.',
        unit: 'percentunit',
        targets: [
          {
            expr: `sum (rate(webhook_rejected_total{reason="unavailable"}${RATE})) / sum (rate(webhook_received_total${RATE}))`,
            legend: '503 ratio',
          },
        ],
      },
      processor[0]?.panels[1] as PanelSpec,
      ...httpRow().panels.slice(0, 2),
      {
        title: 'Messages settled by service and outcome',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (service, outcome) (rate(consumer_messages_total${RATE}))`,
            legend: '{{service}} {{outcome}}',
          },
          {
            expr: `sum by (service) (rate(log_shipper_rows_inserted_total${RATE}))`,
            legend: '{{service}} rows inserted',
          },
        ],
      },
      {
        title: 'Feed entries written (feed-worker)',
        description: 'postgres: new user_feed rows; redis: timelines written (active users only).',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (service, store) (rate(feed_entries_written_total${RATE}))`,
            legend: '{{service}} {{store}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Latency',
    panels: [
      ingest[0]?.panels[3] as PanelSpec,
      httpRow().panels[2] as PanelSpec,
      {
        title: 'Consumer handler p99 by queue',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'consumer_handler_duration_seconds', ['queue']), legend: '{{queue}}' }],
      },
    ],
  },
  {
    title: 'Backlogs',
    panels: [
      {
        title: 'Outbox lag by service',
        description: 'OutboxLagHigh pages above 60 s for 5 minutes.',
        unit: 's',
        targets: [{ expr: 'max by (service) (outbox_oldest_unpublished_seconds)', legend: '{{service}}' }],
      },
      {
        title: 'Oldest unshipped event-log event',
        unit: 's',
        targets: [{ expr: 'max by (service) (bulk_consumer_oldest_pending_seconds)', legend: '{{service}}' }],
      },
      {
        title: 'Feed fan-out lag p99 (feed-worker)',
        description:
          "A post to its followers' feeds: FeedFanOutLagAboveTarget above 2 s, FeedFanOutLagHigh pages above 60 s.",
        unit: 's',
        targets: [{ expr: quantile(0.99, 'feed_fanout_lag_seconds', ['service'], [PUSH]), legend: '{{service}}' }],
      },
      {
        title: 'Event-loop lag p99 by service',
        unit: 's',
        targets: [{ expr: 'max by (service) (nodejs_eventloop_lag_p99_seconds)', legend: '{{service}}' }],
      },
    ],
  },
  queuesRow('Queues and dead letters (RabbitMQ)'),
]

/** The activity consumers' queues: single events and activity.batch.v1 messages. */
const ACTIVITY = 'queue=~"analytics[.]activity(-batches)?"'
const ANALYTICS_ROUTES = 'route=~"/v1/analytics/.+"'
const analytics: RowSpec[] = [
  {
    title: 'Events and rollups',
    panels: [
      {
        title: 'Events by way in and result',
        description: 'AnalyticsIngestionFailing fires on any "failed" (or failed consumer batch) for 10 minutes.',
        unit: 'ops',
        targets: [{ expr: `sum by (way, result) (rate(analytics_events_total${RATE}))`, legend: '{{way}} {{result}}' }],
      },
      {
        title: 'Rollup freshness (oldest held activity message)',
        description: 'AnalyticsRollupStale fires above 120 s for 5 minutes: the rollups commit with the events.',
        unit: 's',
        targets: [{ expr: `max(bulk_consumer_oldest_pending_seconds${sel(ACTIVITY)})`, legend: 'oldest' }],
      },
      {
        title: 'Event to commit delay',
        description: 'performedAt to commit; late events (an earlier day) make its tail.',
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'analytics_event_delay_seconds', ['way']), legend: 'p99 {{way}}' },
          { expr: quantile(0.5, 'analytics_event_delay_seconds', ['way']), legend: 'p50 {{way}}' },
        ],
      },
      {
        title: 'Ingestion transaction p99',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'analytics_batch_duration_seconds', ['way']), legend: '{{way}}' }],
      },
      {
        title: 'Events per transaction p50',
        unit: 'short',
        targets: [{ expr: quantile(0.5, 'analytics_batch_events', ['way']), legend: '{{way}}' }],
      },
      {
        title: 'Late events and partitions ahead',
        description: "analytics_partitions_ahead below 1: next month's inserts will fail (a ticket).",
        unit: 'short',
        targets: [
          { expr: `sum by (way) (rate(analytics_late_events_total${RATE}))`, legend: 'late/s {{way}}' },
          { expr: 'min(analytics_partitions_ahead)', legend: 'partitions ahead' },
        ],
      },
    ],
  },
  {
    title: 'Answers',
    panels: [
      {
        title: 'Answer p95 by route',
        description: 'AnalyticsQueriesSlow fires above 50 ms for 15 minutes (with at least 0.1 answers/s).',
        unit: 's',
        targets: [
          {
            expr: quantile(0.95, 'http_request_duration_seconds', ['route'], [svc('analytics'), ANALYTICS_ROUTES]),
            legend: '{{route}}',
          },
        ],
      },
    ],
  },
]

export const DASHBOARD_SPECS: DashboardSpec[] = [
  {
    uid: 'platform-overview',
    title: 'Platform overview',
    description: 'Every service at a glance: alerts, rates, errors, latency, backlogs and dead letters.',
    rows: overview,
  },
  {
    uid: 'ingest',
    title: 'Ingest',
    description: 'Webhook intake: signatures, group commit, ACK latency, status updates (docs/webhooks.md).',
    rows: standard('ingest', ingest),
  },
  {
    uid: 'processor',
    title: 'Processor',
    description: 'Webhook effects, retries, dead letters and downstream notifications (docs/webhooks.md#processing).',
    rows: standard('processor', processor),
  },
  {
    uid: 'log-shipper',
    title: 'Log shipper',
    description: 'The event log from RabbitMQ to ClickHouse (docs/eventlog.md).',
    rows: standard('log-shipper', logShipper),
  },
  {
    uid: 'feed',
    title: 'Feed',
    description:
      'The feed API and its fan-out worker: fan-out lag, entries written, caches, the hot feed, logins and ' +
      'sessions, the feed.* queues (docs/feed.md, docs/runbooks/feed.md).',
    rows: feedRows,
  },
  {
    uid: 'analytics',
    title: 'Analytics',
    description:
      'Activity events in, rollup freshness, ingestion transactions and query latency (docs/analytics.md, ' +
      'docs/runbooks/analytics.md).',
    rows: standard('analytics', [...analytics, queuesRow('Queues (analytics.*)', ownQueues('analytics'))]),
  },
]
