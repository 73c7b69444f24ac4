import type { Logger } from '@platform/logging'

/**
 * A job a service runs every few minutes in the background (partition retention, pruning expired rows): one run at
 * a time, a failed run logged and tried again at the next tick, and a stop that waits for the run in progress only
 * up to a deadline. A run stuck on a dead connection (a black-holed network: no timeout of the server fires) must
 * not hold the process's shutdown, which closes the connections right after and so ends the run anyway.
 */
export interface PeriodicJobOptions {
  /** Names the job in its log lines ("<name> failed"). */
  name: string
  run: () => Promise<unknown>
  intervalMs: number
  /** How long stop() waits for a run in progress; default 5000 ms. */
  stopTimeoutMs?: number
  logger: Logger
  /** Run once at start() as well, not only after the first interval; default true. */
  runAtStart?: boolean
}

export interface PeriodicJob {
  /** Starts the ticks (idempotent). */
  start(): void
  /** Stops the ticks and waits for a run in progress, at most `timeoutMs` (default: the job's stopTimeoutMs). */
  stop(timeoutMs?: number): Promise<void>
  /** Whether a run is in progress. */
  readonly running: boolean
}

export function createPeriodicJob(options: PeriodicJobOptions): PeriodicJob {
  const { name, logger } = options
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined

  const tick = () => {
    if (running) return
    running = Promise.resolve()
      .then(options.run)
      .then(
        () => {},
        (err: unknown) => logger.error({ err, job: name }, `${name} failed; it runs again at the next interval`),
      )
      .finally(() => {
        running = undefined
      })
  }

  return {
    start() {
      if (timer) return
      if (options.runAtStart !== false) tick()
      timer = setInterval(tick, options.intervalMs)
      timer.unref()
    },
    async stop(timeoutMs = options.stopTimeoutMs ?? 5000) {
      clearInterval(timer)
      timer = undefined
      if (!running) return
      let deadline: NodeJS.Timeout | undefined
      const waited = await Promise.race([
        running.then(() => true),
        new Promise<false>((resolve) => {
          deadline = setTimeout(() => resolve(false), timeoutMs)
        }),
      ])
      clearTimeout(deadline)
      if (!waited) logger.warn({ job: name, timeoutMs }, `${name}: stopped without waiting for the run in progress`)
    },
    get running() {
      return running !== undefined
    },
  }
}
