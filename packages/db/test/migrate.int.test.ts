import { createTestSchema, type TestSchema } from '@platform/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { createSql, MigrationError, migrate } from '../index.js'

let db: TestSchema | undefined
afterEach(async () => {
  await db?.drop()
})

const migrations = [
  { id: 'service/0001_a', sql: 'create table a (id int primary key)' },
  { id: 'service/0002_b', sql: 'create table b (id int primary key); insert into a values (1)' },
]

describe('migrate', () => {
  it('applies pending migrations once, also when several instances start at the same time', async () => {
    db = await createTestSchema('mig')
    const schema = db.schema
    const pools = Array.from({ length: 4 }, () =>
      createSql({ url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', schema }),
    )
    const applied = await Promise.all(pools.map((sql) => migrate(sql, { schema, migrations })))
    await Promise.all(pools.map((sql) => sql.end()))
    expect(applied.flat().sort()).toEqual(['service/0001_a', 'service/0002_b'])
    const rows = await db.sql`select count(*)::int as n from a`
    expect(rows[0]?.n).toBe(1)
    expect(await migrate(db.sql, { schema, migrations })).toEqual([])
  })

  it('refuses to start when an applied migration was edited, and rolls back a failing one', async () => {
    db = await createTestSchema('mig')
    await migrate(db.sql, { schema: db.schema, migrations })
    const edited = [{ ...migrations[0], sql: 'create table a (id bigint primary key)' }] as typeof migrations
    await expect(migrate(db.sql, { schema: db.schema, migrations: edited })).rejects.toThrow(MigrationError)
    const broken = [...migrations, { id: 'service/0003_c', sql: 'create table c (id int); select * from nope' }]
    await expect(migrate(db.sql, { schema: db.schema, migrations: broken })).rejects.toThrow(/0003_c failed/)
    const [c] = await db.sql`select to_regclass(${`${db.schema}.c`}) as t`
    expect(c?.t).toBeNull()
  })
})
