import { hostname } from 'node:os'
import { context, DiagLogLevel, diag, propagation, trace } from '@opentelemetry/api'
import { HostFilteredPropagator } from './propagator.js'
import { setTracingEnabled } from './state.js'

/**
 * The OpenTelemetry SDK, started once per process (and once per worker thread: the threaded outbox relay starts its
 * own), only when an OTLP endpoint is configured. Spans are batched and exported over OTLP/HTTP (JSON) to that
 * endpoint; sampling is parent-based with a ratio for root spans (the OTel sampler `parentbased_traceidratio`): a
 * trace that came in sampled stays sampled in every service, one that did not stays unsampled, and of the traces
 * that start here (a webhook from a provider) `sampleRatio` are kept. With no endpoint nothing is loaded at all.
 *
 * No loader hooks (--import, require-in-the-middle): the services are ES modules, and the spans are made by the
 * platform's own packages at their boundaries (HTTP server, PostgreSQL queries, outbox relay, AMQP publish and
 * consume, the ClickHouse write). Two official instrumentations add client spans: undici's (fetch), which works
 * through Node's diagnostics_channel, and ioredis' (every Redis command), applied to the loaded ioredis module
 * (loaded-modules.ts says how). docs/operations.md, "Tracing".
 */
export interface TracingOptions {
  /** service.name of every span. */
  service: string
  /** The OTLP/HTTP traces URL (…/v1/traces); empty: tracing stays off. */
  endpoint: string
  /** Share of new traces (root spans) recorded and exported, 0..1; child spans follow their parent's decision. */
  sampleRatio: number
  /** deployment.environment.name of every span. */
  environment?: string
  /** Client spans for fetch() (undici); default true. */
  fetch?: boolean
  /**
   * The ioredis module this process uses (its `Redis` class): each command made inside a span gets a client span of
   * its own (@opentelemetry/instrumentation-ioredis). Absent: Redis is not traced (a process without Redis).
   */
  ioredis?: object
  /**
   * The hosts fetch() sends `traceparent`/`tracestate` to (TRACE_PROPAGATE_HOSTS): "host" (any port), "host:port",
   * or ".domain" (its subdomains). Default none: an identity provider or a customer's endpoint learns nothing of
   * the platform's traces; the client span is recorded either way.
   */
  propagateHosts?: readonly string[]
  /**
   * Continue the trace of an HTTP request's `traceparent` (TRACE_TRUST_INCOMING_CONTEXT), for services whose callers
   * are the platform's own; default false: the server span starts a new trace and links to the caller's.
   */
  trustIncomingContext?: boolean
  /** Where the SDK's own warnings go (an export that failed, a full queue). */
  warn?: (message: string) => void
}

export interface Tracing {
  readonly enabled: boolean
  /** Exports what is buffered. */
  flush(): Promise<void>
  /** Exports what is buffered (within a bound), then stops tracing in this thread. Never rejects. */
  shutdown(): Promise<void>
}

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} }

/** The OTLP endpoint variables as the OTel specification reads them: the traces one as is, the base one + /v1/traces. */
export function tracesEndpoint(env: {
  OTEL_EXPORTER_OTLP_ENDPOINT?: string
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string
}): string {
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT ?? ''
  return base === '' ? '' : `${base.replace(/\/+$/, '')}/v1/traces`
}

let started: Promise<Tracing> | undefined
/** Holders of the started SDK (runtimes of one process, in tests); the last shutdown stops it. */
let holders = 0
const SHUTDOWN_BOUND_MS = 3000

/**
 * Starts tracing in this thread, or shares the tracing already started: one SDK per thread, since the API it
 * registers is global (the first caller's service name is every span's). Each caller shuts down its share.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  if (!options.endpoint) return OFF
  started ??= start(options).catch((error) => {
    started = undefined
    throw error
  })
  const sdk = await started
  holders++
  let released = false
  return {
    enabled: true,
    flush: () => sdk.flush(),
    async shutdown() {
      if (released) return
      released = true
      if (--holders === 0) await sdk.shutdown()
    },
  }
}

async function start(options: TracingOptions): Promise<Tracing> {
  const [sdk, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ])
  if (options.warn) {
    const warn = options.warn
    const write = (message: string, ...args: unknown[]) => warn([message, ...args.map(String)].join(' '))
    diag.setLogger(
      { error: write, warn: write, info: () => {}, debug: () => {}, verbose: () => {} },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    )
  }
  const provider = new sdk.NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': options.service,
      'service.namespace': 'event-platform',
      'service.instance.id': `${hostname()}:${process.pid}`,
      ...(options.environment ? { 'deployment.environment.name': options.environment } : {}),
    }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(options.sampleRatio) }),
    // OTEL_BSP_* (batch size, delay, queue) and OTEL_EXPORTER_OTLP_HEADERS / _TIMEOUT are read from the environment.
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: options.endpoint }))],
  })
  // The AsyncLocalStorage context manager, and as the global propagator (used by undici's instrumentation only: the
  // platform's packages write W3C trace context by hand) a W3C one that stays quiet towards hosts not listed.
  const propagator = new HostFilteredPropagator(options.propagateHosts ?? [])
  provider.register({ propagator })
  let undici: { disable(): void } | undefined
  if (options.fetch !== false) {
    const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici')
    undici = new UndiciInstrumentation({
      // No root spans: a readiness ping to ClickHouse is no trace of its own.
      requireParentforSpans: true,
      // Runs before the instrumentation injects the headers: marks the spans of requests to other hosts.
      requestHook: (span, request) => propagator.noteRequest(span, request.origin),
    })
  }
  let ioredis: (() => void) | undefined
  if (options.ioredis) {
    const [{ IORedisInstrumentation }, { instrumentLoadedModule }] = await Promise.all([
      import('@opentelemetry/instrumentation-ioredis'),
      import('./loaded-modules.js'),
    ])
    const instrumentation = new IORedisInstrumentation({
      enabled: false, // no require hook: patched below, on the module already loaded
      // Only inside a request's or a message's trace: the readiness pings and timers make no traces of their own.
      requireParentSpan: true,
      // The command's name only: its keys hold user and session ids, its values posts and tokens.
      dbStatementSerializer: (name) => name,
    })
    ioredis = instrumentLoadedModule(instrumentation, options.ioredis, provider)
  }
  setTracingEnabled(true, options.trustIncomingContext ?? false)
  return {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      setTracingEnabled(false)
      undici?.disable()
      ioredis?.()
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        provider.shutdown().catch(() => {}),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, SHUTDOWN_BOUND_MS)
        }),
      ])
      clearTimeout(timer)
      // Unregistered, so that a later start in this thread (a test) registers its provider anew.
      trace.disable()
      context.disable()
      propagation.disable()
      started = undefined
    },
  }
}
