export { repeatWhileFull } from './lib/batches.js'
export {
  assertIdentifier,
  type CreateSqlOptions,
  createSql,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  type Fragment,
  inTransaction,
  jsonText,
  pingDatabase,
  type Queryable,
  type Sql,
  type Tx,
  withDeadline,
} from './lib/client.js'
export { DeadlineError, MigrationError } from './lib/errors.js'
export { loadMigrations, type MigrateOptions, type Migration, migrate } from './lib/migrate.js'
