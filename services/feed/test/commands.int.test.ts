import { randomUUID } from 'node:crypto'
import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { command, type FeedHarness, newKey, startFeed, type TapMessage } from './commands-harness.js'

/**
 * The commands against real PostgreSQL, RabbitMQ and Redis: each writes its rows, its outbox rows (seen through an
 * audit trigger of the test's own, since the relay deletes them once published) and publishes its domain event,
 * its activity event and its event-log record (seen on tap queues); a command that fails after its writes leaves
 * nothing behind and publishes nothing; a state that is already set publishes nothing again.
 */
let h: FeedHarness
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

beforeAll(async () => {
  h = await startFeed()
  const { sql } = h.env.schema
  // Every outbox row ever inserted, committed with the command or rolled back with it.
  await sql`create table outbox_audit (like outbox)`
  await sql.unsafe(`
    create function audit_outbox() returns trigger language plpgsql as $$
    begin insert into outbox_audit select new.*; return null; end $$;
    create trigger audit_outbox after insert on outbox for each row execute function audit_outbox();`)
})
afterAll(async () => {
  await h?.close()
})

/** The outbox rows of a command, by the exchange and one id in their body. */
async function outboxRows(id: string) {
  const { sql } = h.env.schema
  return sql<{ exchange: string; routing_key: string; type: string; body: Record<string, unknown> }[]>`
    select exchange, routing_key, type, body from outbox_audit where body::text like ${`%${id}%`} order by id`
}

const onTap = (exchange: string, routingKey: string, has: Record<string, unknown>) => (m: TapMessage) =>
  m.exchange === exchange && m.routingKey === routingKey && Object.entries(has).every(([k, v]) => m.body[k] === v)

/** The three records of one fact: domain event, activity event, event-log record. */
async function expectPublished(routingKey: string, body: Record<string, unknown>, activity: Record<string, unknown>) {
  const domain = await h.waitForMessage(onTap('feed', routingKey, body), `${routingKey} on the feed tap`)
  expect(domain.type).toBe(`feed.${routingKey}.v1`)
  expect(domain.messageId).toMatch(UUID)
  const act = await h.waitForMessage(onTap('activity', `activity.${activity.kind}`, activity), 'the activity event')
  expect(act.type).toBe('activity.recorded.v1')
  expect(act.messageId).toBe(act.body.eventId)
  const log = await h.waitForMessage(
    (m) => m.exchange === 'eventlog' && m.routingKey === `eventlog.feed.${routingKey}` && m.body.context !== null,
    'the event-log record',
  )
  expect(JSON.parse(log.body.context as string)).toMatchObject(body)
  return domain
}

describe('POST /v1/posts', () => {
  it('stores the post, counts it on the author, enqueues and publishes post.created, answers 201', async () => {
    const author = await h.newUser('poster')
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: command(author),
      payload: { text: '  Cafe\u0301 au lait\r\nsecond line  ' },
    })
    expect(res.statusCode).toBe(201)
    expect(res.headers['idempotent-replayed']).toBeUndefined()
    const post = res.json()
    expect(post).toEqual({
      id: expect.stringMatching(UUID),
      author: { id: author.user.id, handle: 'poster', name: 'poster', avatar_url: null },
      // NFC (e + U+0301 is é), CRLF as LF, trimmed
      text: 'Café au lait\nsecond line',
      like_count: 0,
      liked_by_me: false,
      created_at: expect.any(String),
    })
    expect(res.headers.location).toBe(`/v1/posts/${post.id}`)
    // UUIDv7, and its time is the post's creation time
    expect(post.id[14]).toBe('7')
    expect(Number.parseInt(post.id.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.parse(post.created_at))

    const { sql } = h.env.schema
    const [row] = await sql`select author_id, text, like_count::int, created_at from posts where id = ${post.id}`
    expect(row).toMatchObject({ author_id: author.user.id, text: 'Café au lait\nsecond line', like_count: 0 })
    const [user] = await sql`select post_count::int from users where id = ${author.user.id}`
    expect(user?.post_count).toBe(1)

    const rows = await outboxRows(post.id)
    expect(rows.map((r) => `${r.exchange} ${r.routing_key}`)).toEqual([
      'feed post.created',
      'activity activity.post.created',
      'eventlog eventlog.feed.post.created',
    ])
    const body = { postId: post.id, authorId: author.user.id, createdAt: post.created_at }
    expect(rows[0]?.body).toEqual(body)
    // ids and times, never the text
    expect(JSON.stringify(rows)).not.toContain('lait')
    await expectPublished('post.created', body, {
      userId: author.user.id,
      kind: 'post.created',
      courseId: post.id,
      performedAt: post.created_at,
    })

    const read = await h.app.inject({ method: 'GET', url: `/v1/posts/${post.id}`, headers: author.auth })
    expect(read.statusCode).toBe(200)
    expect(read.json()).toEqual(post)
  })
})

describe('likes', () => {
  it('a like adds a row and one to like_count and publishes post.liked; a second like changes and publishes nothing', async () => {
    const author = await h.newUser('liked_author')
    const fan = await h.newUser('fan')
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: command(author),
      payload: { text: 'like me' },
    })
    const postId = created.json().id as string

    const like = await h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(fan) })
    expect(like.statusCode).toBe(200)
    expect(like.json()).toEqual({ post_id: postId, liked: true, like_count: 1 })
    expect(await h.count('likes', { post_id: postId, user_id: fan.user.id })).toBe(1)
    const domain = await expectPublished(
      'post.liked',
      { postId, authorId: author.user.id, likerId: fan.user.id },
      { userId: fan.user.id, kind: 'like', courseId: postId },
    )
    expect(Date.parse(domain.body.likedAt as string)).not.toBeNaN()

    // Liking again (another key: a new request, not a replay) is not an error and has no effect.
    const again = await h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(fan) })
    expect(again.statusCode).toBe(200)
    expect(again.headers['idempotent-replayed']).toBeUndefined()
    expect(again.json()).toEqual({ post_id: postId, liked: true, like_count: 1 })
    expect((await outboxRows(postId)).filter((r) => r.routing_key === 'post.liked')).toHaveLength(1)

    const read = await h.app.inject({ method: 'GET', url: `/v1/posts/${postId}`, headers: fan.auth })
    expect(read.json()).toMatchObject({ like_count: 1, liked_by_me: true })
    const byAuthor = await h.app.inject({ method: 'GET', url: `/v1/posts/${postId}`, headers: author.auth })
    expect(byAuthor.json()).toMatchObject({ like_count: 1, liked_by_me: false })

    const unlike = await h.app.inject({ method: 'DELETE', url: `/v1/posts/${postId}/like`, headers: command(fan) })
    expect(unlike.statusCode).toBe(200)
    expect(unlike.json()).toEqual({ post_id: postId, liked: false, like_count: 0 })
    expect(await h.count('likes', { post_id: postId })).toBe(0)
    await expectPublished(
      'post.unliked',
      { postId, authorId: author.user.id, likerId: fan.user.id },
      { userId: fan.user.id, kind: 'unlike', courseId: postId },
    )
    const unlikeAgain = await h.app.inject({
      method: 'DELETE',
      url: `/v1/posts/${postId}/like`,
      headers: command(fan),
    })
    expect(unlikeAgain.json()).toEqual({ post_id: postId, liked: false, like_count: 0 })
    const routed = (await outboxRows(postId)).map((r) => r.routing_key)
    expect(routed.filter((k) => k === 'post.unliked')).toHaveLength(1)
    expect(routed.filter((k) => k === 'activity.unlike')).toHaveLength(1)
  })

  it('likes of many users are all counted (concurrent, one row lock per post)', async () => {
    const author = await h.newUser('popular')
    const created = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: command(author),
      payload: { text: 'popular post' },
    })
    const postId = created.json().id as string
    const fans = await Promise.all(Array.from({ length: 10 }, (_, i) => h.newUser(`crowd${i}`)))
    const answers = await Promise.all(
      fans.map((fan) => h.app.inject({ method: 'PUT', url: `/v1/posts/${postId}/like`, headers: command(fan) })),
    )
    expect(answers.map((a) => a.statusCode)).toEqual(fans.map(() => 200))
    const [post] = await h.env.schema.sql`select like_count::int from posts where id = ${postId}`
    expect(post?.like_count).toBe(10)
    expect(await h.count('likes', { post_id: postId })).toBe(10)
  })
})

describe('follows', () => {
  it('a follow adds a row and both counts and publishes user.followed; an unfollow takes them back', async () => {
    const follower = await h.newUser('follower')
    const star = await h.newUser('star')
    const follow = await h.app.inject({
      method: 'PUT',
      url: `/v1/users/${star.user.id}/follow`,
      headers: command(follower),
    })
    expect(follow.statusCode).toBe(200)
    expect(follow.json()).toEqual({ user_id: star.user.id, following: true, follower_count: 1 })
    expect(await h.count('follows', { follower_id: follower.user.id, followee_id: star.user.id })).toBe(1)
    await expectPublished(
      'user.followed',
      { followerId: follower.user.id, followeeId: star.user.id },
      { userId: follower.user.id, kind: 'follow', courseId: star.user.id },
    )

    const profile = await h.app.inject({ method: 'GET', url: `/v1/users/${star.user.id}`, headers: follower.auth })
    expect(profile.statusCode).toBe(200)
    expect(profile.json()).toMatchObject({
      id: star.user.id,
      handle: 'star',
      follower_count: 1,
      following_count: 0,
      followed_by_me: true,
    })
    const me = await h.app.inject({ method: 'GET', url: '/v1/me', headers: follower.auth })
    expect(me.json()).toMatchObject({ id: follower.user.id, following_count: 1, follower_count: 0 })

    const twice = await h.app.inject({
      method: 'PUT',
      url: `/v1/users/${star.user.id}/follow`,
      headers: command(follower),
    })
    expect(twice.json()).toEqual({ user_id: star.user.id, following: true, follower_count: 1 })

    const unfollow = await h.app.inject({
      method: 'DELETE',
      url: `/v1/users/${star.user.id}/follow`,
      headers: command(follower),
    })
    expect(unfollow.json()).toEqual({ user_id: star.user.id, following: false, follower_count: 0 })
    await expectPublished(
      'user.unfollowed',
      { followerId: follower.user.id, followeeId: star.user.id },
      { userId: follower.user.id, kind: 'unfollow', courseId: star.user.id },
    )
    const { sql } = h.env.schema
    const counts = await sql<{ id: string; follower_count: number; following_count: number }[]>`
      select id, follower_count::int, following_count::int from users where id in (${follower.user.id}, ${star.user.id})`
    expect(counts.every((c) => c.follower_count === 0 && c.following_count === 0)).toBe(true)
    const events = (await outboxRows(star.user.id)).filter((r) => r.exchange === 'feed').map((r) => r.routing_key)
    expect(events).toEqual(['user.followed', 'user.unfollowed'])
  })

  it('two users following each other at once both succeed (no deadlock on the counts)', async () => {
    const a = await h.newUser('mutual_a')
    const b = await h.newUser('mutual_b')
    for (let round = 0; round < 11; round++) {
      const method = round % 2 === 0 ? 'PUT' : 'DELETE'
      const [ab, ba] = await Promise.all([
        h.app.inject({ method, url: `/v1/users/${b.user.id}/follow`, headers: command(a) }),
        h.app.inject({ method, url: `/v1/users/${a.user.id}/follow`, headers: command(b) }),
      ])
      expect([ab.statusCode, ba.statusCode]).toEqual([200, 200])
    }
    const [row] = await h.env.schema.sql`
      select follower_count::int, following_count::int from users where id = ${a.user.id}`
    expect(row).toEqual({ follower_count: 1, following_count: 1 })
  })
})

describe('a command that fails after its writes', () => {
  it('leaves no row, no outbox row, no idempotency record and publishes nothing; the key works afterwards', async () => {
    const { sql } = h.env.schema
    const author = await h.newUser('unlucky')
    // Fails the very last statement of the transaction (completing the idempotency record), after the post, the
    // count, the three outbox rows have been written.
    await sql.unsafe(`
      create function explode() returns trigger language plpgsql as $$
      begin raise exception 'forced failure after the writes'; end $$;
      create trigger explode before update on idempotency_keys for each row
        when (new.key like 'explode-%') execute function explode();`)
    const key = `"explode-${randomUUID()}"`
    const failed = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: command(author, key),
      payload: { text: 'this never happened' },
    })
    expectProblem(failed, 500)
    expect(await h.count('posts', { author_id: author.user.id })).toBe(0)
    expect(await h.count('idempotency_keys', { user_id: author.user.id })).toBe(0)
    expect((await outboxRows(author.user.id)).length).toBe(0)
    const [user] = await sql`select post_count::int from users where id = ${author.user.id}`
    expect(user?.post_count).toBe(0)

    // Not stuck: once the fault is gone, the same key runs the command (nothing was stored for it).
    await sql`drop trigger explode on idempotency_keys`
    const retried = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: command(author, key),
      payload: { text: 'this never happened' },
    })
    expect(retried.statusCode).toBe(201)
    expect(retried.headers['idempotent-replayed']).toBeUndefined()
    const postId = retried.json().id as string
    // The retried post's events arrive; no other post.created of this author ever does.
    await h.waitForMessage(onTap('feed', 'post.created', { postId }), 'the retried post.created')
    await h.waitForMessage(onTap('activity', 'activity.post.created', { courseId: postId }), 'its activity')
    const byAuthor = (await h.messages()).filter(
      (m) => m.body.authorId === author.user.id || m.body.userId === author.user.id,
    )
    expect(byAuthor.map((m) => `${m.exchange} ${m.body.postId ?? m.body.courseId}`).sort()).toEqual([
      `activity ${postId}`,
      `feed ${postId}`,
    ])
  })

  it('a refused command (unknown post) stores nothing either: the key stays free', async () => {
    const fan = await h.newUser('refused')
    const key = newKey()
    const missing = '0190f3a4-6c2e-7c4b-9a51-3c5d2e1f0a77'
    const res = await h.app.inject({ method: 'PUT', url: `/v1/posts/${missing}/like`, headers: command(fan, key) })
    expectProblem(res, 404, { type: 'https://event-platform.dev/problems/unknown-post' })
    expect(await h.count('idempotency_keys', { user_id: fan.user.id })).toBe(0)
  })
})
