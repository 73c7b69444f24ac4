export {
  assertIdentifier,
  type CreateSqlOptions,
  createSql,
  inTransaction,
  jsonText,
  pingDatabase,
  type Queryable,
  type Sql,
  type Tx,
} from './lib/client.js'
export { MigrationError } from './lib/errors.js'
export { loadMigrations, type MigrateOptions, type Migration, migrate } from './lib/migrate.js'
