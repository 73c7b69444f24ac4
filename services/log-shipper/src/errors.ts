/** Errors of the log-shipper, codes prefixed LOGSHIP_. */
export type LogShipperErrorCode =
  | 'LOGSHIP_MIGRATION_CHANGED'
  | 'LOGSHIP_MIGRATION_FAILED'
  /** The sink refused the data itself (a poison row among them): bisect, dead-letter the row. */
  | 'LOGSHIP_ROWS_REJECTED'
  /** The sink could not take the batch now (down, slow, overloaded): retry the batch, ack nothing. */
  | 'LOGSHIP_SINK_UNAVAILABLE'

export class LogShipperError extends Error {
  constructor(
    readonly code: LogShipperErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options)
    this.name = 'LogShipperError'
  }
}

export const rowsRejected = (error: unknown): boolean =>
  error instanceof LogShipperError && error.code === 'LOGSHIP_ROWS_REJECTED'
