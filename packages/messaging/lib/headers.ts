/**
 * Our own headers. The attempt counter is ours rather than x-death's, because x-death is not carried on when a
 * message is republished or moved by a shovel (https://www.rabbitmq.com/docs/dlx#effects).
 * The dead-letter headers are what an operator reads in the management UI's "Get messages" before moving a
 * message back.
 */
export const H = {
  /** Failed attempts so far; absent on a first delivery. */
  attempt: 'x-attempt',
  originalExchange: 'x-original-exchange',
  originalRoutingKey: 'x-original-routing-key',
  firstFailureAt: 'x-first-failure-at',
  lastFailureAt: 'x-last-failure-at',
  lastError: 'x-last-error',
  /** On dead messages: why, how many attempts, who gave up. */
  error: 'x-error',
  attempts: 'x-attempts',
  deadLetteredBy: 'x-dead-lettered-by',
  deadLetteredAt: 'x-dead-lettered-at',
  /** Set when a message moved back from a DLQ arrives again: how many times it was replayed. */
  replays: 'x-replays',
} as const

/** Headers that belong to one trip through retry or the DLQ, dropped when a replayed message starts afresh. */
export const FAILURE_HEADERS = [
  H.attempt,
  H.firstFailureAt,
  H.lastFailureAt,
  H.lastError,
  H.error,
  H.attempts,
  H.deadLetteredBy,
  H.deadLetteredAt,
  'x-death',
  'x-first-death-exchange',
  'x-first-death-queue',
  'x-first-death-reason',
  'x-last-death-exchange',
  'x-last-death-queue',
  'x-last-death-reason',
  'x-delivery-count',
]

export function numberHeader(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value)
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : 0
}

/** Keeps header values short and single-line; a stack trace does not belong in a broker header. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return text.replace(/\s+/g, ' ').slice(0, 1000)
}
