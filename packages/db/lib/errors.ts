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
