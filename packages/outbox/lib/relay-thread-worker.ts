/**
 * The outbox relay of ./relay-thread.ts, inside its worker thread: its own PostgreSQL pool and AMQP connection, the
 * relay of ./relay.ts unchanged, and what it does reported to the parent, which keeps the metrics.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import { createSql } from '@platform/db'
import { createLogger } from '@platform/logging'
import { connectBroker, createPublisher } from '@platform/messaging'
import { startTracing } from '@platform/tracing'
import { createOutboxRelay } from './relay.js'
import type { FromRelayThread, RelayThreadData, ToRelayThread } from './relay-thread-protocol.js'

if (!parentPort) throw new Error('relay-thread-worker runs only as a worker thread')
const port: MessagePort = parentPort
const data = workerData as RelayThreadData
const post = (message: FromRelayThread) => port.postMessage(message)

let lastCycledPost = Number.NEGATIVE_INFINITY
const cycledEveryMs = Math.min(1000, (data.stallAfterMs ?? 20_000) / 4)
const name = `${data.service}-outbox-relay`
const logger = createLogger({ service: data.service, level: data.logLevel }).child({ thread: 'outbox-relay' })
// Before anything is published: the relay's publish spans continue the traces the rows were enqueued in.
const tracing = data.tracing
  ? await startTracing({
      ...data.tracing,
      warn: (message) => logger.warn({ otel: message }, 'tracing: the OpenTelemetry SDK reported a problem'),
    })
  : undefined
// One connection claims; LISTEN holds another.
const sql = createSql({ url: data.databaseUrl, schema: data.schema, applicationName: name, max: 2 })
const broker = connectBroker({ url: data.amqpUrl, name, logger })
const publisher = createPublisher(broker)
const relay = createOutboxRelay({
  sql,
  schema: data.schema,
  publisher,
  logger,
  observer: {
    claimed: (rows) => post({ type: 'claimed', rows }),
    failed: () => post({ type: 'failed' }),
    // The parent's readiness watches these: a few per stall limit, at most one a second.
    cycled: () => {
      const now = performance.now()
      if (now - lastCycledPost < cycledEveryMs) return
      lastCycledPost = now
      post({ type: 'cycled' })
    },
  },
  ...(data.batchSize === undefined ? {} : { batchSize: data.batchSize }),
  ...(data.pollIntervalMs === undefined ? {} : { pollIntervalMs: data.pollIntervalMs }),
  ...(data.minClaimIntervalMs === undefined ? {} : { minClaimIntervalMs: data.minClaimIntervalMs }),
  ...(data.claimTimeoutMs === undefined ? {} : { claimTimeoutMs: data.claimTimeoutMs }),
  ...(data.stallAfterMs === undefined ? {} : { stallAfterMs: data.stallAfterMs }),
})

// A stop that arrives while the relay is starting waits for the start, or the loop would begin after the stop.
const started = relay.start()

async function stop(): Promise<void> {
  await started.catch(() => {})
  await relay.stop()
  await publisher.close().catch(() => {})
  await broker.close().catch(() => {})
  await sql.end({ timeout: 5 }).catch(() => {})
  await tracing?.shutdown()
  port.close()
}

port.on('message', (message: ToRelayThread) => {
  if (message.type === 'stop') void stop()
  else if (message.type === 'drain') {
    relay.drain().then(
      (rows) => post({ type: 'drained', rows }),
      (error: Error) => post({ type: 'drain-failed', message: error.message }),
    )
  }
})

await started
post({ type: 'ready' })
