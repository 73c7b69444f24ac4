import type { TracingOptions } from '@platform/tracing'

/** What the parent hands the relay thread: it opens its own PostgreSQL pool and AMQP connection from these. */
export interface RelayThreadData {
  service: string
  databaseUrl: string
  amqpUrl: string
  schema: string
  logLevel: string
  batchSize?: number
  pollIntervalMs?: number
  minClaimIntervalMs?: number
  claimTimeoutMs?: number
  /** The thread's relay caps its backoff below this, as the parent's readiness watches it. */
  stallAfterMs?: number
  /** Tracing on in the parent: the thread starts its own SDK with these (the API's state is per thread). */
  tracing?: Omit<TracingOptions, 'warn'>
}

export type ToRelayThread = { type: 'stop' } | { type: 'drain' }

export type FromRelayThread =
  | { type: 'ready' }
  | { type: 'claimed'; rows: number }
  | { type: 'failed' }
  | { type: 'cycled' }
  | { type: 'drained'; rows: number }
  | { type: 'drain-failed'; message: string }
