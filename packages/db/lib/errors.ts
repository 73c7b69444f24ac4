/** Errors of @platform/db, codes prefixed DB_. */
export class MigrationError extends Error {
  constructor(
    readonly code: 'DB_MIGRATION_CHANGED' | 'DB_MIGRATION_FAILED',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'MigrationError'
  }
}

/** A call that did not settle within its client-side deadline (withDeadline): transient, so a 503 or a retry. */
export class DeadlineError extends Error {
  readonly code = 'DB_DEADLINE'
  constructor(message: string) {
    super(message)
    this.name = 'DeadlineError'
  }
}
