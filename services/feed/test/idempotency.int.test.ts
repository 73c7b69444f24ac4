import type { Sql } from '@platform/db'
import { expectProblem } from '@platform/http/testing'
import { waitFor } from '@platform/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIdempotencyPruner } from '../src/idempotency/prune.js'
import { command, type FeedHarness, newKey, startFeed, type TestUser } from './commands-harness.js'

/**
 * Idempotency-Key against real PostgreSQL (docs/feed.md#idempotency): replay, another request with the key (422), a
 * repeat while the first still runs (409), 50 concurrent requests with one key (one effect), a first request whose
 * connection dies mid-command (the key is free again), expiry and pruning.
 */
let h: FeedHarness
const PROBLEM = 'https://event-platform.dev/problems/'

beforeAll(async () => {
  // 50 requests of one user in a burst: over the default per-user budget, which is not what this file tests.
  h = await startFeed({ FEED_COMMAND_RATE_LIMIT_MAX: '10000' })
})
afterAll(async () => {
  await h?.close()
})

const post = (user: TestUser, key: string, text = 'hello') =>
  h.app.inject({ method: 'POST', url: '/v1/posts', headers: command(user, key), payload: { text } })

/** The post.created rows the author's commands ever enqueued (the outbox keeps none once published). */
const postCount = (user: TestUser) => h.count('posts', { author_id: user.user.id })

/**
 * Holds the author's users row locked (as a slow command would hold it), so a create-post of that author blocks in
 * its transaction after having taken the key's lock; `blocked()` waits until one does.
 */
async function holdAuthorRow(sql: Sql, userId: string) {
  let release: () => void = () => {}
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let lockerPid: (pid: number) => void = () => {}
  const pid = new Promise<number>((resolve) => {
    lockerPid = resolve
  })
  const done = sql.begin(async (tx) => {
    const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`
    await tx`select 1 from users where id = ${userId} for update`
    lockerPid(row?.pid as number)
    await released
  })
  const locker = await pid
  return {
    /** The backend pid of the command waiting on the row. */
    async blocked(): Promise<number> {
      return waitFor(async () => {
        const [row] = await sql<{ pid: number }[]>`
          select pid from pg_stat_activity where ${locker}::int = any(pg_blocking_pids(pid))`
        return row?.pid
      })
    },
    async release() {
      release()
      await done
    },
  }
}

describe('Idempotency-Key', () => {
  it('replays the stored response of a repeated request, marked Idempotent-Replayed, with no second effect', async () => {
    const author = await h.newUser('replayer')
    const key = newKey()
    const first = await post(author, key)
    expect(first.statusCode).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()

    const again = await post(author, key)
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.headers.location).toBe(first.headers.location)
    expect(again.body).toBe(first.body)
    expect(await postCount(author)).toBe(1)

    // The bare form of the same key is the same key.
    const bare = await post(author, key.slice(1, -1))
    expect(bare.headers['idempotent-replayed']).toBe('true')
    expect(bare.json().id).toBe(first.json().id)
    // A text that normalises to the same (NFC, trimming) is the same request.
    const equivalent = await post(author, key, '  hello\n')
    expect(equivalent.headers['idempotent-replayed']).toBe('true')
    expect(await postCount(author)).toBe(1)
    const [record] = await h.env.schema.sql`
      select state, response_status, expires_at - created_at as ttl from idempotency_keys
      where user_id = ${author.user.id}`
    expect(record).toMatchObject({ state: 'completed', response_status: 201 })
  })

  it('answers 422 to the same key with another request: another body, method or route', async () => {
    const author = await h.newUser('reuser')
    const key = newKey()
    expect((await post(author, key, 'one')).statusCode).toBe(201)
    const postId = (await post(author, key, 'one')).json().id as string

    expectProblem(await post(author, key, 'two'), 422, { type: `${PROBLEM}idempotency-key-reused` })
    const like = await h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(author, key) })
    expectProblem(like, 422, { type: `${PROBLEM}idempotency-key-reused` })
    expect(await postCount(author)).toBe(1)
    expect(await h.count('likes', { user_id: author.user.id })).toBe(0)

    // like and unlike of one post with one key: another method, another request
    const likeKey = newKey()
    const liked = await h.app.inject({
      method: 'PUT',
      url: `/v1/posts/${postId}/like`,
      headers: command(author, likeKey),
    })
    expect(liked.statusCode).toBe(200)
    const unlike = await h.app.inject({
      method: 'DELETE',
      url: `/v1/posts/${postId}/like`,
      headers: command(author, likeKey),
    })
    expectProblem(unlike, 422, { type: `${PROBLEM}idempotency-key-reused` })
    expect(await h.count('likes', { user_id: author.user.id })).toBe(1)
  })

  it('scopes keys to the user: another user with the same key runs their own command', async () => {
    const [alice, bob] = [await h.newUser('alice'), await h.newUser('bob')]
    const key = newKey()
    const a = await post(alice, key, 'same key')
    const b = await post(bob, key, 'same key')
    expect([a.statusCode, b.statusCode]).toEqual([201, 201])
    expect(b.headers['idempotent-replayed']).toBeUndefined()
    expect(b.json().id).not.toBe(a.json().id)
    expect(b.json().author.id).toBe(bob.user.id)
  })

  it('answers 409 at once to a repeat while the first request is still running, then replays', async () => {
    const author = await h.newUser('slow')
    const key = newKey()
    const lock = await holdAuthorRow(h.env.schema.sql, author.user.id)
    const first = post(author, key)
    await lock.blocked()

    const during = await post(author, key)
    expectProblem(during, 409, { type: `${PROBLEM}idempotency-key-in-flight` })
    expect(during.headers['retry-after']).toBe('1')

    await lock.release()
    expect((await first).statusCode).toBe(201)
    const after = await post(author, key)
    expect(after.statusCode).toBe(201)
    expect(after.headers['idempotent-replayed']).toBe('true')
    expect(await postCount(author)).toBe(1)
  })

  it('gives 50 concurrent requests with one key exactly one effect: one row, one outbox event, one publish', async () => {
    const author = await h.newUser('burst')
    const key = newKey()
    const answers = await Promise.all(Array.from({ length: 50 }, () => post(author, key, 'once')))
    const statuses = answers.map((a) => a.statusCode)
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true)
    const ran = answers.filter((a) => a.statusCode === 201 && a.headers['idempotent-replayed'] === undefined)
    expect(ran).toHaveLength(1)
    const postId = ran[0]?.json().id as string
    for (const replay of answers.filter((a) => a.headers['idempotent-replayed'] === 'true')) {
      expect(replay.json().id).toBe(postId)
    }
    expect(await postCount(author)).toBe(1)
    const [user] = await h.env.schema.sql`select post_count::int from users where id = ${author.user.id}`
    expect(user?.post_count).toBe(1)
    expect(await h.count('idempotency_keys', { user_id: author.user.id })).toBe(1)

    // One post.created, one activity event and one event-log record reach the broker.
    await h.waitForMessage((m) => m.exchange === 'feed' && m.body.postId === postId)
    await h.waitForMessage((m) => m.exchange === 'activity' && m.body.courseId === postId)
    await h.waitForMessage((m) => m.exchange === 'eventlog' && String(m.body.context).includes(postId))
    // And nothing else of this author: one post.created and one activity event (the taps hold everything published).
    const mine = (await h.messages()).filter(
      (m) => m.body.authorId === author.user.id || m.body.userId === author.user.id,
    )
    expect(mine).toHaveLength(2)
  })

  it('50 concurrent likes with one key: one like row and one post.liked', async () => {
    const author = await h.newUser('liked50')
    const fan = await h.newUser('fan50')
    const postId = (await post(author, newKey(), 'like me fifty times')).json().id as string
    const key = newKey()
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(fan, key) }),
      ),
    )
    expect(answers.every((a) => a.statusCode === 200 || a.statusCode === 409)).toBe(true)
    expect(answers.filter((a) => a.statusCode === 200 && !a.headers['idempotent-replayed'])).toHaveLength(1)
    expect(await h.count('likes', { post_id: postId })).toBe(1)
    await h.waitForMessage((m) => m.exchange === 'feed' && m.routingKey === 'post.liked' && m.body.postId === postId)
    const liked = (await h.messages()).filter((m) => m.routingKey === 'post.liked' && m.body.postId === postId)
    expect(liked).toHaveLength(1)
  })

  it('frees the key when the first request dies mid-command (its connection is killed): no record is stuck', async () => {
    const author = await h.newUser('crash')
    const key = newKey()
    const { sql } = h.env.schema
    const lock = await holdAuthorRow(sql, author.user.id)
    const first = post(author, key)
    const pid = await lock.blocked()
    // What a crash of the process or of its connection leaves: a transaction that never commits.
    await sql`select pg_terminate_backend(${pid}::int)`
    const failed = await first
    expect(failed.statusCode).toBeGreaterThanOrEqual(500)
    await lock.release()
    expect(await h.count('idempotency_keys', { user_id: author.user.id })).toBe(0)

    const retried = await post(author, key)
    expect(retried.statusCode).toBe(201)
    expect(retried.headers['idempotent-replayed']).toBeUndefined()
    expect(await postCount(author)).toBe(1)
  })

  it('keeps a response 24 h: an expired record is reclaimed by its key, and pruned', async () => {
    const author = await h.newUser('expiry')
    const key = newKey()
    const first = await post(author, key)
    const { sql } = h.env.schema
    const [record] = await sql<{ hours: number }[]>`
      select extract(epoch from expires_at - created_at) / 3600 as hours from idempotency_keys
      where user_id = ${author.user.id}`
    expect(Number(record?.hours)).toBe(24)

    // 25 hours later (moved back in time rather than waited for).
    await sql`
      update idempotency_keys set created_at = created_at - interval '25 hours',
        expires_at = expires_at - interval '25 hours'
      where user_id = ${author.user.id}`
    const later = await post(author, key)
    expect(later.statusCode).toBe(201)
    expect(later.headers['idempotent-replayed']).toBeUndefined()
    expect(later.json().id).not.toBe(first.json().id)
    expect(await postCount(author)).toBe(2)

    // The pruning job deletes expired records only.
    await sql`
      update idempotency_keys set created_at = created_at - interval '25 hours',
        expires_at = expires_at - interval '25 hours'
      where user_id = ${author.user.id}`
    const fresh = newKey()
    await post(author, fresh)
    const pruner = createIdempotencyPruner({
      sql,
      schema: h.env.schema.schema,
      logger: { info: () => {}, error: () => {} } as never,
      batchSize: 1,
    })
    const report = await pruner.runOnce()
    expect(report.ran).toBe(true)
    expect(report.deleted).toBeGreaterThanOrEqual(1)
    const keys = await sql<{ key: string }[]>`select key from idempotency_keys where user_id = ${author.user.id}`
    expect(keys.map((k) => k.key)).toEqual([fresh.slice(1, -1)])
  })
})
