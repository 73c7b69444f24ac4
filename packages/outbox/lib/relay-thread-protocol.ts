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
}

export type ToRelayThread = { type: 'stop' } | { type: 'drain' }

export type FromRelayThread =
  | { type: 'ready' }
  | { type: 'claimed'; rows: number }
  | { type: 'failed' }
  | { type: 'cycled' }
  | { type: 'drained'; rows: number }
  | { type: 'drain-failed'; message: string }
