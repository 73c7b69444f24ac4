/** Errors of @platform/config. Codes are prefixed CFG_ so a log line names the package at a glance. */
export class ConfigError extends Error {
  readonly code = 'CFG_INVALID_ENV'
  constructor(readonly problems: { variable: string; message: string; value?: string }[]) {
    super(
      `invalid configuration:\n${problems
        .map(
          (p) => `  - ${p.variable}: ${p.message}${p.value === undefined ? '' : ` (got ${JSON.stringify(p.value)})`}`,
        )
        .join('\n')}`,
    )
    this.name = 'ConfigError'
  }
}
