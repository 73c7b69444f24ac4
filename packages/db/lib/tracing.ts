import { ATTR, endSpan, insideSpan, type Span, SpanKind, startSpan } from '@platform/tracing'
import type postgres from 'postgres'

/**
 * Spans for PostgreSQL queries. postgres.js has no OpenTelemetry instrumentation and no query hooks, so the one
 * method every query goes through when it is sent, Query.prototype.handle (lazy queries run on their first
 * then/execute/forEach), gets a wrapper: it starts a client span and ends it when the query settles. Installed
 * only when tracing is on (createSql asks): with tracing off the class is untouched and queries cost what they did.
 *
 * Only inside a span (a request, a message, a relay's publish): a query outside any (the relay's claims, LISTEN, a
 * readiness ping) would otherwise be a trace of its own, several a second, that no one follows.
 */
interface TracedQuery {
  executed: boolean
  /** The statement text as sent (set by the connection when it builds the message). */
  string?: string
  strings: readonly string[] | string
  resolve: (value: unknown) => unknown
  reject: (error: unknown) => unknown
  handle(): Promise<void>
}

let installed = false

export function instrumentQueries(sql: postgres.Sql): void {
  if (installed) return
  installed = true
  // A query object is lazy: this one is never sent, it only leads to the class every query of postgres.js shares.
  const proto = Object.getPrototypeOf(sql`select 1`) as TracedQuery
  const handle = proto.handle
  proto.handle = function handleTraced(this: TracedQuery) {
    if (!this.executed && insideSpan()) traceQuery(this)
    return handle.call(this)
  }
}

function traceQuery(query: TracedQuery): void {
  const span = startSpan('@platform/db', 'postgresql', {
    kind: SpanKind.CLIENT,
    attributes: { [ATTR.dbSystem]: 'postgresql' },
  })
  // A trace the sampler did not record (OTEL_TRACES_SAMPLER_ARG < 1): nothing to name, time or export, and a
  // query span has no children that would need its context.
  if (!span.isRecording()) return
  const { resolve, reject } = query
  query.resolve = (result) => {
    finish(span, query, result)
    return resolve(result)
  }
  query.reject = (error) => {
    finish(span, query, undefined, error)
    return reject(error)
  }
}

const OPERATION = /^\s*([A-Za-z]+)/
const TARGET = /\b(?:from|into|update|table)\s+((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)/i
const MAX_TEXT = 2000

/** Named after the statement ("INSERT outbox", "SELECT", "COMMIT"), the db.query.summary of the conventions. */
function finish(span: Span, query: TracedQuery, result?: unknown, error?: unknown): void {
  const text = query.string ?? (typeof query.strings === 'string' ? query.strings : query.strings.join('?'))
  const operation = OPERATION.exec(text)?.[1]?.toUpperCase()
  if (operation) {
    const target = TARGET.exec(text)?.[1]
    span.updateName(target ? `${operation} ${target}` : operation)
    span.setAttribute(ATTR.dbOperation, operation)
  }
  span.setAttribute(ATTR.dbQueryText, text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text)
  const count = (result as { count?: unknown } | undefined)?.count
  if (typeof count === 'number') span.setAttribute(ATTR.dbRows, count)
  endSpan(span, error)
}
