/**
 * Applies every service's migrations (services/<name>/migrations/*.sql) to its schema: `npm run migrate`.
 * The services apply them on start too, through the same function (migrateService in
 * packages/service/lib/runtime.ts: the outbox's and the inbox's tables first, then their own, then the event log's
 * claim-check store); this runs it as the convenience and verification step `npm start` runs first, so a broken migration stops the start with one clear message instead of
 * five crashing services.
 * Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
 */
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createSql } from '../../packages/db/index.js'
import { migrateService } from '../../packages/service/index.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const servicesDir = join(root, 'services')
const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

/** Schema names: the service name with dashes as underscores (log-shipper → log_shipper). */
const schemaOf = (service: string) => service.replaceAll('-', '_')

const services = existsSync(servicesDir)
  ? readdirSync(servicesDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(servicesDir, d.name, 'migrations')))
      .map((d) => d.name)
      .sort()
  : []

if (services.length === 0) {
  console.log('[migrate] no services/<name>/migrations folders yet: nothing to migrate')
} else {
  let failed = false
  for (const service of services) {
    const schema = schemaOf(service)
    const sql = createSql({ url: databaseUrl, schema, max: 1, applicationName: `migrate-all:${service}` })
    try {
      const applied = await migrateService(sql, schema, join(servicesDir, service, 'migrations'), (line) =>
        console.log(`[migrate] ${line}`),
      )
      console.log(`[migrate] ${service}: ${applied.length} migration(s) newly applied to schema ${schema}`)
    } catch (error) {
      failed = true
      console.error(`[migrate] ${service}: ${(error as Error).message}`)
    } finally {
      await sql.end({ timeout: 5 })
    }
  }
  if (failed) process.exitCode = 1
}
