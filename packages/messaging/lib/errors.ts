/**
 * Errors a message handler throws to choose its outcome, and errors of the messaging package itself (MSG_).
 * Any other thrown error is treated as transient and retried.
 */
export class RetryableError extends Error {
  readonly code = 'MSG_RETRYABLE'
  /** A delay the handler was told to wait, e.g. a downstream's Retry-After. */
  readonly retryAfterMs: number | undefined
  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause })
    this.name = 'RetryableError'
    this.retryAfterMs = options.retryAfterMs
  }
}

/** Retrying cannot help (bad payload, a downstream 4xx): the message goes to the DLQ at once. */
export class PermanentError extends Error {
  readonly code = 'MSG_PERMANENT'
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options)
    this.name = 'PermanentError'
  }
}

export class MessagingError extends Error {
  constructor(
    readonly code: 'MSG_PUBLISH_TIMEOUT' | 'MSG_PUBLISH_NACKED' | 'MSG_INVALID_DEFINITION' | 'MSG_CLOSED',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options)
    this.name = 'MessagingError'
  }
}
