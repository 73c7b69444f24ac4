import { Worker } from 'node:worker_threads'
import type { Sql } from '@platform/db'
import type { Logger } from '@platform/logging'
import type { Registry } from '@platform/metrics'
import { createProgressMonitor } from '@platform/metrics'
import { type OutboxRelay, type RelayObserver, relayMetrics } from './relay.js'
import type { FromRelayThread, RelayThreadData, ToRelayThread } from './relay-thread-protocol.js'

export interface ThreadedOutboxRelayOptions extends Omit<RelayThreadData, 'logLevel'> {
  /** The thread's own log lines go to stdout at this level (a logger cannot cross threads). */
  logLevel?: string
  logger: Logger
  /** The parent's pool: the gauge of the oldest unpublished row reads it at scrape time. */
  sql: Sql
  /** The relay's metrics live here; the thread reports every claim and failure. */
  registry?: Registry
  /** How long stop() waits for the batch in flight before it terminates the thread. */
  stopTimeoutMs?: number
  /** Test hook: each thread as it is started (a test terminates one to see it replaced). */
  onThread?: (thread: Worker) => void
  /** Readiness fails when the thread reported no finished claim for this long (a dead or a stuck thread). */
  stallAfterMs?: number
}

/**
 * The worker's entry. Compiled (dist/lib/relay-thread.js, the Docker image): the worker is JavaScript beside this
 * file and needs no loader. From the TypeScript source (npm start, tests): ./relay-thread-entry.mjs loads the worker's
 * .ts through tsx, a devDependency the image does not have.
 */
const ENTRY = import.meta.url.endsWith('.ts')
  ? new URL('./relay-thread-entry.mjs', import.meta.url)
  : new URL('./relay-thread-worker.js', import.meta.url)

/**
 * A relay on its own thread keeps up, so its claims are partial and sized by this interval: at ~2,900 rows/s, 20 ms
 * makes claims of ~60 rows, and their fixed cost showed as 2,850 accepted events/s against 2,992 with 60 ms
 * (loadtest/ingest/compare.ts, 4 alternating rounds; an in-process relay, which falls behind, 3,040). It adds at
 * most this much to the delay before a row is published.
 */
export const THREAD_MIN_CLAIM_INTERVAL_MS = 60
const RESTART_DELAYS_MS = [1000, 2000, 5000, 10_000, 30_000]

/**
 * The outbox relay (./relay.ts) on a worker thread of its own, with its own PostgreSQL and AMQP connections: claiming
 * rows, reading them and publishing them no longer take turns with the HTTP requests on the main thread's event loop.
 * Under saturation an in-process relay gets fewer and fewer turns and the outbox grows (ADR 0008); on its own thread
 * it keeps up. The guarantees are the relay's own: a row is deleted only after the broker confirmed it, so a thread
 * that dies at any instant loses nothing (its rows are published again, and consumers deduplicate them). A thread
 * that exits unexpectedly is restarted, after a growing delay.
 */
export function createThreadedOutboxRelay(options: ThreadedOutboxRelayOptions): OutboxRelay {
  const { logger, sql, registry, stopTimeoutMs = 15_000, onThread, stallAfterMs = 20_000, ...rest } = options
  const progress = createProgressMonitor('outbox relay thread', stallAfterMs)
  const data: RelayThreadData = {
    minClaimIntervalMs: THREAD_MIN_CLAIM_INTERVAL_MS,
    ...rest,
    stallAfterMs,
    logLevel: options.logLevel ?? 'info',
  }
  const observer: RelayObserver | undefined = registry && relayMetrics(registry, sql)
  let worker: Worker | undefined
  let running = false
  let restarts = 0
  let restartTimer: NodeJS.Timeout | undefined
  let drains: { resolve(rows: number): void; reject(error: Error): void }[] = []

  function restartLater(reason: string, details: Record<string, unknown>): void {
    // Its unpublished rows are still in the table: a new thread publishes them.
    const delay = RESTART_DELAYS_MS[Math.min(restarts++, RESTART_DELAYS_MS.length - 1)] as number
    observer?.failed()
    logger.error({ ...details, restartInMs: delay }, `${reason}; restarting it`)
    restartTimer = setTimeout(() => {
      restartTimer = undefined
      if (running) spawn()
    }, delay)
  }

  function spawn(): void {
    const thread = new Worker(ENTRY, { workerData: data, name: `${data.service}-outbox-relay` })
    worker = thread
    onThread?.(thread)
    const spawned = performance.now()
    let ready = false
    thread.on('message', (message: FromRelayThread) => {
      switch (message.type) {
        case 'ready':
          ready = true
          logger.info({ startMs: Math.round(performance.now() - spawned) }, 'the outbox relay thread is running')
          break
        case 'claimed':
          restarts = 0
          observer?.claimed(message.rows)
          break
        case 'failed':
          observer?.failed()
          break
        case 'cycled':
          progress.progressed()
          break
        case 'drained':
          drains.shift()?.resolve(message.rows)
          break
        case 'drain-failed':
          drains.shift()?.reject(new Error(message.message))
          break
      }
    })
    thread.on('error', (error) => logger.error({ err: error }, 'the outbox relay thread failed'))
    thread.on('exit', (code) => {
      if (worker === thread) worker = undefined
      for (const drain of drains) drain.reject(new Error(`the outbox relay thread exited (code ${code})`))
      drains = []
      if (!running) return
      restartLater(ready ? 'the outbox relay thread exited' : 'the outbox relay thread exited before it was ready', {
        code,
      })
    })
  }

  function send(message: ToRelayThread): void {
    worker?.postMessage(message)
  }

  return {
    progress,
    /**
     * Starts the thread and returns without waiting for it: loading it takes a moment (more on a busy machine), rows
     * committed meanwhile wait in the table, and a thread that cannot start is retried like one that died.
     */
    async start() {
      if (running) return
      running = true
      progress.setPending(1)
      spawn()
    },
    async stop() {
      running = false
      progress.setPending(0)
      if (restartTimer) clearTimeout(restartTimer)
      restartTimer = undefined
      const thread = worker
      if (!thread) return
      const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()))
      send({ type: 'stop' })
      const timer = setTimeout(() => {
        logger.warn({ stopTimeoutMs }, 'the outbox relay thread did not stop in time; terminating it')
        void thread.terminate()
      }, stopTimeoutMs)
      await exited
      clearTimeout(timer)
    },
    drain() {
      if (!worker) return Promise.reject(new Error('the outbox relay thread is not running; start() it first'))
      return new Promise<number>((resolve, reject) => {
        drains.push({ resolve, reject })
        send({ type: 'drain' })
      })
    },
  }
}
