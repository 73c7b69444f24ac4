import type { ServiceRuntime } from './runtime.js'
import { onShutdownSignal } from './server.js'

export interface RunWorkerOptions {
  /** The runtime the worker's consumers use: its outbox relay starts here, its connections close last. */
  runtime: ServiceRuntime<boolean>
  /** Starts the worker's consumers (or loops); returns what stops them. */
  start(): Promise<{ stop(): Promise<void> }>
  /** After this long a shutdown gives up and the process exits 1. */
  shutdownTimeoutMs: number
}

export interface RunningWorker {
  /** Shuts down as a signal would, then exits the process. */
  shutdown(): void
}

/**
 * A service process without HTTP routes (a fan-out worker, say): the same runtime and the same shutdown as a server
 * (runServer), in the reverse order of starting: its consumers stop, then the outbox relay and the connections.
 * Readiness of such a process is its consumers' progress, which its operators read from the logs and metrics.
 */
export async function runWorker(options: RunWorkerOptions): Promise<RunningWorker> {
  const { runtime } = options
  const { logger } = runtime
  let started: { stop(): Promise<void> } | undefined
  const grace = onShutdownSignal(logger, options.shutdownTimeoutMs, async () => {
    await started?.stop()
    await runtime.close()
  })
  try {
    await runtime.outboxRelay.start()
    started = await options.start()
    logger.info('worker running')
    return { shutdown: () => grace.close() }
  } catch (error) {
    grace.uninstall()
    await runtime.close()
    throw error
  }
}
