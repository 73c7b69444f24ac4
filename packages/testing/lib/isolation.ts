import { randomBytes } from 'node:crypto'
import { createSql, type Sql } from '@platform/db'
import postgres from 'postgres'
import { testUrls } from './env.js'
import { rabbitAdmin } from './rabbit-admin.js'

/** A short random suffix: test files run in parallel and must never share a schema, vhost or key prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`
}

export interface TestSchema {
  schema: string
  sql: Sql
  /** Drops the schema and closes the pool. */
  drop(): Promise<void>
}

/** A fresh PostgreSQL schema of its own, with a pool whose search_path points at it. */
export async function createTestSchema(prefix = 't'): Promise<TestSchema> {
  const schema = uniqueName(prefix.replace(/[^a-z0-9_]/g, '_'))
  const url = testUrls().databaseUrl
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create schema "${schema}"`)
  await admin.end()
  const sql = createSql({ url, schema, max: 10 })
  return {
    schema,
    sql,
    async drop() {
      await sql.end({ timeout: 5 })
      const cleanup = postgres(url, { max: 1, onnotice: () => {} })
      await cleanup.unsafe(`drop schema if exists "${schema}" cascade`)
      await cleanup.end()
    },
  }
}

export interface TestVhost {
  vhost: string
  /** AMQP URL of the vhost, for connectBroker. */
  amqpUrl: string
  delete(): Promise<void>
}

/** A RabbitMQ vhost of its own (via the management API), so queues and exchanges never collide between files. */
export async function createTestVhost(prefix = 't'): Promise<TestVhost> {
  const vhost = uniqueName(prefix)
  const admin = rabbitAdmin()
  await admin.createVhost(vhost)
  const base = new URL(testUrls().amqpUrl)
  base.pathname = `/${encodeURIComponent(vhost)}`
  return {
    vhost,
    amqpUrl: base.toString(),
    delete: async () => {
      await admin.deleteVhost(vhost)
    },
  }
}

/** A Redis key prefix of its own. */
export function redisPrefix(prefix = 't'): string {
  return `${uniqueName(prefix)}:`
}
