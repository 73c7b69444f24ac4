import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'

/**
 * The correlation id travels HTTP request -> outbox row -> AMQP `correlationId` property -> consumer logs.
 * AsyncLocalStorage carries it through every await of one request or one message, so neither business code
 * nor repositories have to pass it along by hand.
 */
export interface RequestContext {
  correlationId: string
}

const storage = new AsyncLocalStorage<RequestContext>()

export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn)
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore()
}

export function currentCorrelationId(): string | undefined {
  return storage.getStore()?.correlationId
}

/** Accepts a caller's id only when it is short and printable: it ends up in logs and message headers. */
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The caller's id when it is safe, else `fallback()` (the request's trace id, say), else a new UUID. */
export function correlationIdFrom(candidate: unknown, fallback?: () => string): string {
  if (typeof candidate === 'string' && SAFE_ID.test(candidate)) return candidate
  return fallback ? fallback() : randomUUID()
}

export const CORRELATION_HEADER = 'x-correlation-id'
