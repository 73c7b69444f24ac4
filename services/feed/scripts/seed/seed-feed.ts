import type { Sql, Tx } from '@platform/db'
import { copyRows } from './copy.js'
import { buildGraph, type GraphOptions, rowCounts, type SeedGraph } from './graph.js'
import type { Progress } from './progress.js'
import {
  followsRows,
  largeAuthorsRows,
  largeFollowsRows,
  likesRows,
  postsRows,
  type TableRows,
  userFeedRows,
  usersRows,
} from './rows.js'

/**
 * `npm run seed:feed` (docs/performance.md#seed): the simulated population of graph.ts, written in ONE transaction
 * through COPY, with the seed's marker row written last in it. So a run either leaves everything or nothing (a
 * crash, Ctrl-C or a failed COPY rolls it all back, and the next run starts over), and a second run finds the
 * marker and writes nothing. Two runs at once: the second waits on an advisory lock, then finds the marker.
 *
 * Speed (a bulk load, not the service's write path):
 *  - the secondary indexes of the tables it fills are dropped inside the transaction and built again after the COPY
 *    (one sort per index instead of millions of random inserts); primary keys stay, the rows come in key order;
 *  - `session_replication_role = replica` for the transaction when the role may set it (a superuser, as in
 *    development): foreign-key triggers do not fire, since every reference is to a row the same transaction wrote
 *    from the same graph. Otherwise they fire and the tables are written in reference order anyway.
 *
 * The read model (user_feed, large_authors, large_follows of migration 0010) is written when those tables exist;
 * Redis is warmed after the commit by warm.ts (a cache: a missing timeline is rebuilt on the next read).
 */
export interface SeedFeedOptions {
  sql: Sql
  graph: GraphOptions
  progress: Progress
}

export type SeedFeedResult =
  | { state: 'seeded'; counts: Record<string, number>; graph: SeedGraph; seconds: number; readModel: boolean }
  | { state: 'already-seeded'; marker: SeedMarker }

export interface SeedMarker {
  options: GraphOptions
  counts: Record<string, number>
  seeded_at: Date
  redis_warmed_at: Date | null
}

/** The marker table: one row once a seed has committed. Made by the seed, not a migration: it is the tool's. */
export async function ensureMarkerTable(sql: Sql | Tx): Promise<void> {
  await sql`
    create table if not exists feed_seed (
      id smallint primary key default 1 check (id = 1),
      options jsonb not null,
      counts jsonb not null,
      seeded_at timestamptz not null default now(),
      redis_warmed_at timestamptz
    )`
}

export async function readMarker(sql: Sql | Tx): Promise<SeedMarker | undefined> {
  const [row] = await sql<SeedMarker[]>`select options, counts, seeded_at, redis_warmed_at from feed_seed`
  return row
}

export async function seedFeed(options: SeedFeedOptions): Promise<SeedFeedResult> {
  const { sql, progress } = options
  await ensureMarkerTable(sql)
  const existing = await readMarker(sql)
  if (existing) return { state: 'already-seeded', marker: existing }

  const started = Date.now()
  progress.phase(`generating the graph (${options.graph.users} users)`)
  const graph = buildGraph(options.graph, (phase) => progress.log(`  ${phase}`))
  const counts = rowCounts(graph)
  progress.log(
    `graph: ${Object.entries(counts)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}`,
  )

  let readModel = false
  const outcome = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext('feed-seed'))`
    const raced = await readMarker(tx)
    if (raced) return raced
    const [role] = await tx<
      { superuser: boolean }[]
    >`select rolsuper as superuser from pg_roles where rolname = current_user`
    if (role?.superuser) await tx`set local session_replication_role = replica`
    await tx`set local maintenance_work_mem = '512MB'`

    readModel = await tablesExist(tx, ['user_feed', 'large_authors', 'large_follows'])
    const tables: TableRows[] = [usersRows(graph), followsRows(graph), postsRows(graph), likesRows(graph)]
    if (readModel) {
      tables.push(
        userFeedRows(graph, counts.user_feed ?? 0),
        largeAuthorsRows(graph),
        largeFollowsRows(graph, counts.large_follows ?? 0),
      )
    } else {
      progress.log('no user_feed table (migration 0010 of the fan-out worker): the read model is not materialised')
    }
    const indexes = await secondaryIndexes(
      tx,
      tables.map((t) => t.table),
    )
    for (const index of indexes) await tx.unsafe(`drop index ${index.name}`)
    for (const t of tables) {
      const sent = await copyRows(tx, t.table, t.columns, t.rows(), (n) => progress.rows(t.table, n, t.count))
      progress.done(t.table, sent)
    }
    for (const index of indexes) {
      await tx.unsafe(index.definition)
      progress.step(`index ${index.name}`)
    }
    for (const t of tables) await tx.unsafe(`analyze ${t.table}`)
    progress.step('analyze')
    await tx`insert into feed_seed (options, counts) values (${tx.json(graph.options as never)}, ${tx.json(counts)})`
    return undefined
  })
  if (outcome) return { state: 'already-seeded', marker: outcome }
  return { state: 'seeded', counts, graph, seconds: (Date.now() - started) / 1000, readModel }
}

export async function tablesExist(sql: Sql | Tx, tables: string[]): Promise<boolean> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relname = any(${tables}) and c.relkind in ('r', 'p')`
  return row?.n === tables.length
}

/**
 * The indexes of `tables` that no constraint owns (not the primary keys, not unique constraints): safe to drop
 * and build again from their own definition. A partitioned table's index is dropped and made again on the parent,
 * which does the same on every partition.
 */
async function secondaryIndexes(tx: Tx, tables: string[]): Promise<{ name: string; definition: string }[]> {
  const rows = await tx<{ name: string; definition: string }[]>`
    select quote_ident(ic.relname) as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i
    join pg_class ic on ic.oid = i.indexrelid
    join pg_class c on c.oid = i.indrelid
    join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relname = any(${tables})
      and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
    order by ic.relname`
  // pg_get_indexdef says `ON ONLY` for a partitioned table's index: made that way, it would cover no partition
  return rows.map((r) => ({ name: r.name, definition: r.definition.replace(' ON ONLY ', ' ON ') }))
}
