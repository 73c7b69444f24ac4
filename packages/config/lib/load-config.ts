import Type, { type Static, type TObject, type TProperties, type TSchema } from 'typebox'
import Value from 'typebox/value'
import { ConfigError } from './errors.js'

/** Variables whose values are secrets: never echoed back in an error message. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|KEY/i

/**
 * Parses `env` against a TypeBox object schema: applies defaults, converts strings to numbers and booleans,
 * and rejects anything else with one error that names every bad or missing variable.
 * Unknown variables are ignored (the process environment holds many).
 */
export function loadConfig<S extends TObject>(schema: S, env: NodeJS.ProcessEnv = process.env): Static<S> {
  const input: Record<string, unknown> = {}
  for (const key of Object.keys(schema.properties)) {
    const raw = env[key]
    // An empty variable means "not set", the way shells and docker-compose files write it.
    if (raw !== undefined && raw !== '') input[key] = raw
  }
  const value = Value.Convert(schema, Value.Default(schema, input)) as Record<string, unknown>
  if (Value.Check(schema, value)) return value as Static<S>

  // Checked one variable at a time, so every bad variable is named once, with a message a person can act on.
  const problems = Object.entries(schema.properties).flatMap(([variable, property]) => {
    const raw = env[variable]
    if (!(variable in value)) return [{ variable, message: 'is required' }]
    if (Value.Check(property, value[variable])) return []
    const shown = raw !== undefined && !SECRET_NAME.test(variable) ? { value: raw } : {}
    return [{ variable, message: describe(property), ...shown }]
  })
  throw new ConfigError(problems)
}

function describe(property: TSchema): string {
  const options = (property as { anyOf?: { const?: unknown }[] }).anyOf
  if (options?.every((o) => o.const !== undefined)) return `must be one of ${options.map((o) => o.const).join(', ')}`
  const [first] = Value.Errors(property, undefined)
  const p = property as Record<string, unknown>
  if (p.type === 'integer' || p.type === 'number') {
    const range = [p.minimum !== undefined && `>= ${p.minimum}`, p.maximum !== undefined && `<= ${p.maximum}`]
    return `must be ${p.type === 'integer' ? 'an integer' : 'a number'} ${range.filter(Boolean).join(' and ')}`.trim()
  }
  if (p.pattern) return `must match ${p.pattern}`
  if (p.type === 'boolean') return 'must be true or false'
  return first?.message ?? 'is invalid'
}

/** Schema fragments every service shares; a service spreads them into its own schema. */
/** REDIS_COMMAND_TIMEOUT_MS's default, also for clients made without a configuration (createRedis). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 500

export const commonEnv = {
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('test'), Type.Literal('production')], {
    default: 'development',
  }),
  /** Written into every event-log row so one ClickHouse table can hold several environments. */
  ENVIRONMENT: Type.String({ default: 'development', minLength: 1 }),
  LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  HOST: Type.String({ default: '127.0.0.1' }),
  DATABASE_URL: Type.String({ default: 'postgres://postgres@127.0.0.1:5432/postgres', pattern: '^postgres(ql)?://' }),
  AMQP_URL: Type.String({ default: 'amqp://guest:guest@127.0.0.1:5672', pattern: '^amqps?://' }),
  /**
   * Server-side deadlines of every PostgreSQL session (statement_timeout, idle_in_transaction_session_timeout): no
   * statement runs, and no transaction stays open, longer than this. Migrations lift the statement limit.
   */
  DB_STATEMENT_TIMEOUT_MS: Type.Integer({ default: 15_000, minimum: 100 }),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: Type.Integer({ default: 15_000, minimum: 100 }),
  /** A mechanism (group commit, outbox relay, consumer) with work waiting and no progress this long is not ready. */
  STALL_AFTER_MS: Type.Integer({ default: 20_000, minimum: 100 }),
  REDIS_URL: Type.String({ default: 'redis://127.0.0.1:6379', pattern: '^rediss?://' }),
  CLICKHOUSE_URL: Type.String({ default: 'http://127.0.0.1:8123', pattern: '^https?://' }),
  /** Prefix of every Redis key this process writes; tests give each file its own. */
  REDIS_PREFIX: Type.String({ default: '' }),
  /**
   * How long a Redis command may take, from the call to its reply being read, before it fails (ioredis
   * commandTimeout): Redis being slow or gone costs a request at most this much. The event loop's delay counts too:
   * a process too busy to read a reply in time fails the command.
   */
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ default: DEFAULT_REDIS_COMMAND_TIMEOUT_MS, minimum: 10, maximum: 60_000 }),
  /** Seconds a graceful shutdown may take before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100 }),
  RATE_LIMIT_MAX: Type.Integer({ default: 1000, minimum: 1 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 1000, minimum: 1 }),
  BODY_LIMIT_BYTES: Type.Integer({ default: 1_048_576, minimum: 1 }),
  /**
   * Which proxies' X-Forwarded-For to believe, so the client address (rate limit key, logs) is the caller's and not
   * the load balancer's: empty or "false" (none: the default, the header is ignored and cannot be spoofed), "true"
   * (any), a hop count ("1"), or addresses and CIDR ranges ("10.0.0.0/8,127.0.0.1"). Fastify's trustProxy.
   */
  TRUST_PROXY: Type.String({
    default: '',
    pattern: '^(|true|false|\\d+|[0-9A-Fa-f:.]+(/\\d{1,3})?( *, *[0-9A-Fa-f:.]+(/\\d{1,3})?)*)$',
  }),
  AMQP_PREFETCH: Type.Integer({ default: 20, minimum: 1, maximum: 65535 }),
  /**
   * Deadlines for a request to arrive (Node's headersTimeout and requestTimeout): a client that sends its headers or
   * its body a byte at a time is answered 408 and disconnected after them, instead of holding a connection for
   * minutes. Checked every HTTP_TIMEOUT_CHECK_INTERVAL_MS (Node's connectionsCheckingInterval, 30 s by default).
   */
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100 }),
  HTTP_REQUEST_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  HTTP_TIMEOUT_CHECK_INTERVAL_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 30_000 }),
  /**
   * Tracing (OpenTelemetry, docs/operations.md "Tracing"): off unless one of the endpoints is set. The base URL of an
   * OTLP/HTTP receiver (a collector, "http://localhost:4318"; traces go to <it>/v1/traces), or the traces URL itself.
   * The OTel SDK's own names, so an operator's usual settings apply.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.String({ default: '', pattern: '^(|https?://.+)$' }),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.String({ default: '', pattern: '^(|https?://.+)$' }),
  /** Share of the traces that start here that are recorded (parent-based: a caller's decision is kept). */
  OTEL_TRACES_SAMPLER_ARG: Type.Number({ default: 1, minimum: 0, maximum: 1 }),
  /**
   * Continue the trace an HTTP request's `traceparent` names (true: the callers are the platform's own), or start a new
   * trace linked to it (false, the default: a public edge, where a caller must not pick the trace id or force sampling).
   */
  TRACE_TRUST_INCOMING_CONTEXT: Type.Boolean({ default: false }),
  /**
   * Hosts that fetch() sends `traceparent` to, comma-separated: "host", "host:port" or ".domain" (its subdomains).
   * Default none: identity providers and downstream endpoints get no trace context.
   */
  TRACE_PROPAGATE_HOSTS: Type.String({ default: '', pattern: '^([A-Za-z0-9.:_-]+( *, *[A-Za-z0-9.:_-]+)*)?$' }),
} satisfies TProperties

/** The port, schema and relay defaults differ per service, so they are built by name. */
export function serviceEnv(defaults: { port: number; schema: string; relayThread?: boolean }) {
  return {
    ...commonEnv,
    PORT: Type.Integer({ default: defaults.port, minimum: 0, maximum: 65535 }),
    DB_SCHEMA: Type.String({ default: defaults.schema, pattern: '^[a-z_][a-z0-9_]{0,62}$' }),
    /**
     * true: the outbox relay runs on a worker thread of its own, with its own connections, instead of sharing the
     * event loop with the HTTP requests (@platform/outbox createThreadedOutboxRelay; docs/adr/0008).
     */
    OUTBOX_RELAY_THREAD: Type.Boolean({ default: defaults.relayThread ?? false }),
  } satisfies TProperties
}

export type CommonConfig = Static<TObject<ReturnType<typeof serviceEnv>>>
