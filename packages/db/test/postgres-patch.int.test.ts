import net from 'node:net'
import { createTestSchema, type TestSchema, testUrls } from '@platform/testing'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/**
 * Regression tests of patches/postgres@3.4.9.patch (patches/README.md): the hazards that left ingest accepting a
 * few webhooks a second after a PostgreSQL restart. Each one fails on postgres@3.4.9 without the patch.
 *
 * The pool's sockets are our own (postgres.js's `socket` option), so a test closes exactly the ones it means to, in
 * the order a restart closes them, instead of stopping the shared server.
 */
function poolWithOwnSockets(max: number) {
  const url = new URL(testUrls().databaseUrl)
  const sockets = new Set<net.Socket & { lastWriteAt?: number }>()
  // `socket` is documented (https://github.com/porsager/postgres#custom-socket) but missing from the types.
  const sql = postgres(url.href, {
    max,
    connect_timeout: 2,
    onnotice: () => {},
    socket: () =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket: net.Socket & { lastWriteAt?: number } = net.connect(Number(url.port || 5432), url.hostname)
        const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
        socket.write = ((...args: unknown[]) => {
          socket.lastWriteAt = performance.now()
          return write(...args)
        }) as typeof socket.write
        sockets.add(socket)
        socket.once('close', () => sockets.delete(socket))
        socket.once('connect', () => resolve(socket))
        socket.once('error', reject)
      }),
  } as postgres.Options<Record<string, never>>)
  return { sql, sockets }
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? String(e),
  )

describe('the patched postgres.js', () => {
  let schema: TestSchema
  beforeAll(async () => {
    schema = await createTestSchema('pgpatch')
    await schema.sql`create table marks (n int)`
  })
  afterAll(() => schema.drop())

  it('reconnects a connection that closed while a write was waiting to be flushed (no CONNECT_TIMEOUT later)', async () => {
    const { sql, sockets } = poolWithOwnSockets(2)
    try {
      // Both connections open, one of them busy when the server goes away.
      await Promise.all([sql`select pg_sleep(0.02)`, sql`select pg_sleep(0.02)`])
      let late: Promise<unknown> | undefined
      const busy = sql`select pg_sleep(5)`.execute()
      const failed = busy.catch(() => {
        // What a retrying caller does on the first error: its query goes to the other connection, which is closing
        // in the same turn of the event loop; its write is buffered for a flush that closing cancels.
        late = sql`select 2`.execute()
      })
      await new Promise((r) => setTimeout(r, 30))
      // A restart closes every connection at once; libuv runs the close callbacks last-closed-first, so the busy
      // connection's close (and the retry) comes before the idle one's.
      const order = [...sockets].sort((a, b) => (a.lastWriteAt ?? 0) - (b.lastWriteAt ?? 0))
      for (const socket of order) socket.destroy()
      await failed
      await outcome(late as Promise<unknown>)

      const started = performance.now()
      const after = await Promise.all([1, 2, 3, 4].map(() => outcome(sql`select 3`)))
      expect(after).toEqual(['ok', 'ok', 'ok', 'ok'])
      // Unpatched, one connection never sends its startup message again: CONNECT_TIMEOUT after connect_timeout (2 s).
      expect(performance.now() - started).toBeLessThan(1000)
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('fails the queries of a transaction whose connection closed, instead of running them on the next session', async () => {
    const { sql, sockets } = poolWithOwnSockets(1)
    const search = `set search_path to "${schema.schema}"`
    try {
      let reconnected: Promise<unknown> | undefined
      let lateInsert: Promise<string> | undefined
      const tx = sql.begin(async (tx) => {
        await tx.unsafe(search)
        await tx`insert into marks values (1)`
        for (const socket of sockets) socket.destroy()
        await new Promise((r) => setTimeout(r, 20))
        // Another caller's query reconnects the only connection meanwhile.
        reconnected = sql.unsafe(`${search}; select 1`).simple()
        await new Promise((r) => setTimeout(r, 100))
        // The transaction's code goes on (begin() has rejected, but nothing stops the callback). Unpatched, this
        // insert runs in autocommit on the new session and stays committed.
        lateInsert = outcome(tx`insert into marks values (2)`.execute())
      })
      expect(await outcome(tx)).toBe('CONNECTION_CLOSED')
      await new Promise((r) => setTimeout(r, 200))
      expect(await outcome(reconnected as Promise<unknown>)).toBe('ok')
      expect(await lateInsert).toBe('CONNECTION_CLOSED')
      await new Promise((r) => setTimeout(r, 100))
      expect(await schema.sql`select n from marks`).toEqual([])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('settles the queries queued in a transaction when its connection closes', async () => {
    const { sql, sockets } = poolWithOwnSockets(1)
    try {
      let queued: Promise<string>[] = []
      const tx = sql.begin(async (tx) => {
        await tx`select 1`
        // A long statement, then more than the connection pipelines: the rest wait in the transaction's own queue.
        const first = tx`select pg_sleep(5)`.execute()
        queued = Array.from({ length: 200 }, (_, i) => outcome(tx`select ${i}::int`.execute()))
        setTimeout(() => {
          for (const socket of sockets) socket.destroy()
        }, 30)
        await first
      })
      expect(await outcome(tx)).toBe('CONNECTION_CLOSED')
      const settled = await Promise.race([
        Promise.all(queued),
        new Promise<string>((r) => setTimeout(() => r('some queued query never settled'), 2000)),
      ])
      expect(settled).not.toBe('some queued query never settled')
      expect(new Set(settled as string[])).toEqual(new Set(['CONNECTION_CLOSED']))
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('gives a reserved connection that closed back to the pool to reconnect, not to the open ones', async () => {
    const { sql, sockets } = poolWithOwnSockets(1)
    try {
      // As ingest's retention job does: reserve, hold a session-level lock, release in `finally`.
      const conn = await sql.reserve()
      await conn`select 1`
      for (const socket of sockets) socket.destroy()
      await new Promise((r) => setTimeout(r, 20))
      expect(await outcome(conn`select pg_advisory_unlock(1)`)).toBe('CONNECTION_CLOSED')
      conn.release()
      // Unpatched, the closed connection is parked among the open ones: the next query fails on it, and the pool's
      // only connection then never reconnects, so the ones after wait forever.
      const settled = await Promise.race([
        Promise.all([1, 2, 3].map(() => outcome(sql`select 1`))),
        new Promise<string>((r) => setTimeout(() => r('a query never settled'), 3000)),
      ])
      expect(settled).toEqual(['ok', 'ok', 'ok'])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('a late release() of a closed reservation does not end the reservation of the transaction holding it now', async () => {
    const { sql, sockets } = poolWithOwnSockets(1)
    try {
      const conn = await sql.reserve()
      await conn`select 1`
      for (const socket of sockets) socket.destroy()
      await new Promise((r) => setTimeout(r, 20))
      let seen: Promise<unknown> | undefined
      // The pool reconnects the only connection for this transaction.
      await sql.begin(async (tx) => {
        await tx`select set_config('x.v', 'inside-tx', true)`
        conn.release() // the old holder's `finally`, late
        seen = sql`select current_setting('x.v', true) as v`.execute()
        await tx`select pg_sleep(0.05)`
        await tx`select 1`
      })
      // Unpatched (and with the first version of the patch), the pool query ran inside the transaction.
      expect(await seen).toEqual([{ v: '' }])
    } finally {
      await sql.end({ timeout: 1 })
    }
  })

  it('keeps a failed array-types query of a new connection from becoming an unhandled rejection', async () => {
    // A statement_timeout of 1 ms from the startup message: the server cancels the driver's own pg_type query, the
    // first statement of every new connection (upstream #1192's reproduction). Unpatched, its rejection has no
    // handler: Node's default ends the process, as a connection dropped at that moment did in CI.
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    const sql = postgres(testUrls().databaseUrl, {
      max: 1,
      onnotice: () => {},
      connection: { statement_timeout: 1 },
    } as postgres.Options<Record<string, never>>)
    try {
      await outcome(sql`select 1`)
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      await sql.end({ timeout: 1 })
    }
  })
})
