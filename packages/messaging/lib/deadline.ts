import { RetryableError } from './errors.js'

/** A handler past its deadline: retried like any RetryableError, but no sign of progress (see ProgressMonitor). */
export class HandlerTimeoutError extends RetryableError {
  constructor(message: string) {
    super(message)
    this.name = 'HandlerTimeoutError'
  }
}

/**
 * A handler's deadline: past `ms`, the returned promise rejects with a RetryableError (the delivery is retried) and
 * the handler's own promise is abandoned. Handlers are idempotent (inbox), so one that also finishes late does no
 * harm. Without a deadline a handler waiting on an unreachable database holds its delivery forever.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number | undefined, what: string): Promise<T> {
  if (!ms) return work
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HandlerTimeoutError(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits until every promise settled or `ms` passed, whichever comes first; never rejects. */
export async function settledWithin(promises: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      Promise.allSettled(promises).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
