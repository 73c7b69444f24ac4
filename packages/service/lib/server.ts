import { ConfigError } from '@platform/config'
import type { ServiceApp } from '@platform/http'
import type { Logger } from '@platform/logging'
import closeWithGrace from 'close-with-grace'

/** What the shutdown leaves close-with-grace between our own bound and its kill. */
const SHUTDOWN_MARGIN_MS = 1000

/**
 * Every wait of a shutdown is bounded on its own (commit and claim deadlines, consumer stop timeouts); this is the
 * last bound, so that a call hung beyond all of them still lets the process end within the grace period. Abandoning
 * it loses nothing: a request not answered was not acknowledged, an unacked message is redelivered. Throws then, so
 * close-with-grace logs it and exits 1.
 */
export async function closeWithin(close: () => Promise<unknown>, shutdownTimeoutMs: number): Promise<void> {
  const budgetMs = Math.max(shutdownTimeoutMs - SHUTDOWN_MARGIN_MS, shutdownTimeoutMs / 2)
  let timer: NodeJS.Timeout | undefined
  const closed = await Promise.race([
    close().then(() => true),
    new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), budgetMs)
    }),
  ])
  clearTimeout(timer)
  if (!closed) throw new Error(`stopped without waiting for calls still hung after ${budgetMs} ms`)
}

export interface RunServerOptions {
  app: ServiceApp
  port: number
  host: string
  /** Defaults to the app's logger; its `service` binding names the process in the "listening on" line. */
  logger?: Logger
  /** After this long a shutdown gives up and the process exits 1. */
  shutdownTimeoutMs: number
  /** Runs when a signal arrives, before `app.close()`. */
  onShutdown?: () => Promise<void> | void
}

export interface RunningServer {
  /** The address actually bound (PORT=0 picks a free port). */
  url: string
  /** Shuts down as a signal would, then exits the process. */
  shutdown(): void
}

/**
 * Listens, then waits for SIGTERM/SIGINT (close-with-grace, https://github.com/mcollina/close-with-grace).
 * Shutdown closes the app: readiness turns 503, in-flight requests finish, then the onClose hooks release
 * consumers, the broker, Redis and PostgreSQL, and the process exits 0 (1 when the deadline passes first, or
 * when the trigger was an uncaught error).
 */
/**
 * On SIGTERM/SIGINT or an uncaught error (close-with-grace, https://github.com/mcollina/close-with-grace): logs why,
 * runs `close` within the grace period (closeWithin), logs "stopped" and exits 0; exits 1 when the grace period
 * passes first, on a second signal, or when `close` fails.
 */
export function onShutdownSignal(logger: Logger, shutdownTimeoutMs: number, close: () => Promise<unknown>) {
  return closeWithGrace(
    {
      delay: shutdownTimeoutMs,
      // close-with-grace reports a second signal, a timeout or a failed close here; the process then exits 1.
      logger: { error: (message: unknown) => logger.error({ err: message }, 'shutdown did not finish cleanly') },
    },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'shutting down after an uncaught error')
      else logger.info({ signal }, 'shutting down')
      await closeWithin(close, shutdownTimeoutMs)
      logger.info('stopped')
    },
  )
}

export async function runServer(options: RunServerOptions): Promise<RunningServer> {
  const { app } = options
  const logger = options.logger ?? app.log
  const service = String(logger.bindings().service ?? 'service')

  const grace = onShutdownSignal(logger, options.shutdownTimeoutMs, async () => {
    await options.onShutdown?.()
    await app.close()
  })

  try {
    const url = await app.listen({
      port: options.port,
      host: options.host,
      listenTextResolver: (address) => `${service} listening on ${address}`,
    })
    return { url, shutdown: () => grace.close() }
  } catch (error) {
    grace.uninstall()
    throw error
  }
}

/**
 * Runs a server's `main`. A start that fails on configuration prints one line naming the bad variables, with no
 * stack trace (the stack would only point at the config loader); any other failure is printed in full.
 * Either way the process exits 1, even when a half-opened connection would keep it alive.
 */
export function startService(main: () => Promise<unknown>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) {
      const problems = error.problems
        .map((p) => `${p.variable} ${p.message}${p.value === undefined ? '' : ` (got ${JSON.stringify(p.value)})`}`)
        .join('; ')
      process.stderr.write(`invalid configuration: ${problems}\n`)
    } else {
      process.stderr.write(
        `failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      )
    }
    process.exit(1)
  })
}
