import type { RowSpec } from './grafana.js'

/**
 * The rows every service's dashboard has (HTTP, health, outbox; consumers and queues where it has them), and the
 * helpers the dashboards of infra/scripts/lib/grafana-dashboards.ts write their expressions with.
 */
export const RATE = '[$__rate_interval]'
/** Work queues: neither a DLQ nor a retry tier (alerts.yml). */
export const WORK = String.raw`queue!~".+\\.dlq|.+\\.retry\\..+"`
export const DLQ = String.raw`queue=~".+\\.dlq"`
export const NOT_PROBES = 'route!~"/health/.+|/metrics"'

export const sel = (...matchers: string[]) => `{${matchers.filter(Boolean).join(', ')}}`
export const svc = (service: string) => `service="${service}"`
export const ownQueues = (service: string) => String.raw`queue=~"${service}\\..+"`
export const quantile = (q: number, metric: string, by: string[], matchers: string[] = []) =>
  `histogram_quantile(${q}, sum by (${[...by, 'le'].join(', ')}) (rate(${metric}_bucket${sel(...matchers)}${RATE})))`

export function httpRow(service?: string): RowSpec {
  const s = service ? svc(service) : ''
  const by = service ? 'route' : 'service'
  return {
    title: 'HTTP',
    panels: [
      {
        title: service ? 'Requests by route and status' : 'Requests by service',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (${service ? 'route, status_code' : 'service'}) (rate(http_request_duration_seconds_count${sel(s, NOT_PROBES)}${RATE}))`,
            legend: service ? '{{route}} {{status_code}}' : '{{service}}',
          },
        ],
      },
      {
        title: '5xx ratio',
        description: 'HttpServerErrors fires above 5 % for 10 minutes (probes and /metrics left out).',
        unit: 'percentunit',
        targets: [
          {
            expr: `sum by (${by}) (rate(http_request_duration_seconds_count${sel(s, 'status_code=~"5.."', NOT_PROBES)}${RATE})) / sum by (${by}) (rate(http_request_duration_seconds_count${sel(s, NOT_PROBES)}${RATE}))`,
            legend: `{{${by}}}`,
          },
        ],
      },
      {
        title: 'p99 response time',
        unit: 's',
        targets: [
          { expr: quantile(0.99, 'http_request_duration_seconds', [by], [s, NOT_PROBES]), legend: `{{${by}}}` },
        ],
      },
    ],
  }
}

export function healthRow(service: string): RowSpec {
  const s = svc(service)
  return {
    title: 'Health',
    panels: [
      {
        title: 'Readiness checks (1 ok, 0 failing)',
        description: 'ServiceNotReady fires on a check at 0 for 2 minutes.',
        unit: 'short',
        targets: [{ expr: `min by (check) (readiness_check_ok${sel(s)})`, legend: '{{check}}' }],
      },
      {
        title: 'Event-loop lag p99',
        description: 'EventLoopLagHigh fires above 200 ms for 5 minutes.',
        unit: 's',
        targets: [{ expr: `max by (instance) (nodejs_eventloop_lag_p99_seconds${sel(s)})`, legend: '{{instance}}' }],
      },
      {
        title: 'CPU (cores) and memory',
        unit: 'short',
        targets: [
          { expr: `sum by (instance) (rate(process_cpu_seconds_total${sel(s)}${RATE}))`, legend: 'cpu {{instance}}' },
          {
            expr: `max by (instance) (nodejs_heap_size_used_bytes${sel(s)}) / max by (instance) (nodejs_heap_size_total_bytes${sel(s)})`,
            legend: 'heap used / total {{instance}}',
          },
        ],
      },
    ],
  }
}

export function outboxRow(service: string): RowSpec {
  const s = svc(service)
  return {
    title: 'Outbox',
    panels: [
      {
        title: 'Oldest unpublished row',
        description: 'OutboxLagHigh fires above 60 s for 5 minutes.',
        unit: 's',
        targets: [{ expr: `max by (instance) (outbox_oldest_unpublished_seconds${sel(s)})`, legend: '{{instance}}' }],
      },
      {
        title: 'Published and failed',
        unit: 'ops',
        targets: [
          { expr: `sum (rate(outbox_published_total${sel(s)}${RATE}))`, legend: 'rows published' },
          { expr: `sum (rate(outbox_publish_failures_total${sel(s)}${RATE}))`, legend: 'failed claims' },
        ],
      },
      {
        title: 'Rows per claim',
        description: 'About 100 while the relay keeps up at 4,000 rows/s, 500 while it drains a backlog.',
        unit: 'short',
        targets: [
          {
            expr: `sum (rate(outbox_published_total${sel(s)}${RATE})) / sum (rate(outbox_claims_total${sel(s)}${RATE}))`,
            legend: 'rows per claim',
          },
        ],
      },
    ],
  }
}

export function consumersRow(service: string): RowSpec {
  const s = svc(service)
  return {
    title: 'Consumers',
    panels: [
      {
        title: 'Messages settled by queue and outcome',
        unit: 'ops',
        targets: [
          {
            expr: `sum by (queue, outcome) (rate(consumer_messages_total${sel(s)}${RATE}))`,
            legend: '{{queue}} {{outcome}}',
          },
        ],
      },
      {
        title: 'In flight',
        description: 'ConsumerNotConsuming fires when messages are in hand and none is settled for 5 minutes.',
        unit: 'short',
        targets: [{ expr: `sum by (queue) (consumer_in_flight${sel(s)})`, legend: '{{queue}}' }],
      },
      {
        title: 'Handler p99',
        unit: 's',
        targets: [{ expr: quantile(0.99, 'consumer_handler_duration_seconds', ['queue'], [s]), legend: '{{queue}}' }],
      },
    ],
  }
}

export function queuesRow(title: string, matcher?: string): RowSpec {
  const own = matcher ? [matcher] : []
  return {
    title,
    panels: [
      {
        title: 'Ready on work queues',
        description: 'QueueBacklogHigh fires above 10,000 for 10 minutes; QueueBacklogGrowing on a steady rise.',
        unit: 'short',
        targets: [
          { expr: `sum by (queue) (rabbitmq_detailed_queue_messages_ready${sel(...own, WORK)})`, legend: '{{queue}}' },
        ],
      },
      {
        title: 'Unacked and consumers',
        description: 'QueueWithoutConsumer fires on a work queue without consumers for 2 minutes.',
        unit: 'short',
        targets: [
          {
            expr: `sum by (queue) (rabbitmq_detailed_queue_messages_unacked${sel(...own, WORK)})`,
            legend: 'unacked {{queue}}',
          },
          {
            expr: `sum by (queue) (rabbitmq_detailed_queue_consumers${sel(...own, WORK)})`,
            legend: 'consumers {{queue}}',
          },
        ],
      },
      {
        title: 'Dead-letter queues',
        description: 'DeadLettersRising fires on any growth within 15 minutes, DeadLetterBurst above 50.',
        unit: 'short',
        targets: [
          { expr: `sum by (queue) (rabbitmq_detailed_queue_messages${sel(...own, DLQ)})`, legend: '{{queue}}' },
        ],
      },
    ],
  }
}

export const standard = (service: string, own: RowSpec[]): RowSpec[] => [
  ...own,
  outboxRow(service),
  httpRow(service),
  healthRow(service),
]
