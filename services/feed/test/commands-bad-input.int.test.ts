import { expectProblem } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { command, type FeedHarness, newKey, startFeed, type TestUser } from './commands-harness.js'

/**
 * Every bad input of the commands and reads gets problem+json with its status, and changes nothing: no token 401,
 * no or a malformed Idempotency-Key 400, a malformed body 400, a text that is empty, too long or holds a control
 * character 422, an id that is not a UUID (or holds NUL) 400, an unknown post or user 404, following oneself 422,
 * over the per-user budget 429 with Retry-After.
 */
let h: FeedHarness
let author: TestUser
let postId: string
const PROBLEM = 'https://event-platform.dev/problems/'
const UNKNOWN = '0190f3a4-6c2e-7c4b-9a51-3c5d2e1f0a77'
const RATE_LIMIT = 30

beforeAll(async () => {
  h = await startFeed({ FEED_COMMAND_RATE_LIMIT_MAX: String(RATE_LIMIT), FEED_COMMAND_RATE_LIMIT_WINDOW_MS: '60000' })
  author = await h.newUser('bad_input')
  const res = await h.app.inject({ method: 'POST', url: '/v1/posts', headers: command(author), payload: { text: 'x' } })
  postId = res.json().id
})
afterAll(async () => {
  await h?.close()
})

const ROUTES = [
  { method: 'POST', url: '/v1/posts', payload: { text: 'hi' } },
  { method: 'PUT', url: () => `/v1/posts/${postId}/like` },
  { method: 'DELETE', url: () => `/v1/posts/${postId}/like` },
  { method: 'PUT', url: () => `/v1/users/${author.user.id}/follow` },
  { method: 'DELETE', url: () => `/v1/users/${author.user.id}/follow` },
] as const
const urlOf = (route: (typeof ROUTES)[number]) => (typeof route.url === 'function' ? route.url() : route.url)
type Method = 'POST' | 'PUT' | 'DELETE' | 'GET'

const send = (method: Method, url: string, headers: Record<string, string>, payload?: string | object) =>
  h.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) })

/** Each test acts as a user of its own: the per-user budget (RATE_LIMIT) is the last describe's subject. */
const fresh = () => h.newUser('caller')

const createPost = async (payload: unknown, contentType = 'application/json') =>
  h.app.inject({
    method: 'POST',
    url: '/v1/posts',
    headers: { ...command(await fresh()), 'content-type': contentType },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  })

describe('authentication', () => {
  it('answers 401 without a token, and with a bad one, on every command and read, before anything else', async () => {
    const reads = ['/v1/me', `/v1/users/${author.user.id}`, `/v1/posts/${postId}`]
    for (const [method, url] of [
      ...ROUTES.map((r) => [r.method, urlOf(r)] as const),
      ...reads.map((u) => ['GET', u] as const),
    ]) {
      // No token (and no key, and for POST a broken body): the token is looked at first.
      const none = await send(method, url, { 'content-type': 'application/json' }, '{"text":')
      expectProblem(none, 401, { type: `${PROBLEM}authentication-required` })
      expect(none.headers['www-authenticate']).toBe('Bearer realm="feed"')
      const bad = await send(method, url, { authorization: 'Bearer not.a.token', 'idempotency-key': newKey() })
      expectProblem(bad, 401, { type: `${PROBLEM}invalid-token` })
      expect(bad.headers['www-authenticate']).toContain('error="invalid_token"')
    }
    expect(await h.count('posts')).toBe(1)
  })
})

describe('Idempotency-Key', () => {
  it('is required by every command: 400 idempotency-key-missing', async () => {
    const caller = await fresh()
    for (const route of ROUTES) {
      const res = await send(route.method, urlOf(route), caller.auth, 'payload' in route ? route.payload : undefined)
      expectProblem(res, 400, { type: `${PROBLEM}idempotency-key-missing` })
    }
  })

  it.each([
    ['an empty string', '""'],
    ['an unterminated string', '"abc'],
    ['a list of two', '"a", "b"'],
    ['parameters', '"abc";x=1'],
    ['a space in the bare form', 'a b'],
    ['a bad escape', '"a\\nb"'],
    ['non-ASCII', '"clé"'],
    ['256 characters', `"${'k'.repeat(256)}"`],
  ])('refuses %s with 400 idempotency-key-invalid', async (_name, key) => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/posts',
      headers: { ...(await fresh()).auth, 'idempotency-key': key },
      payload: { text: 'never stored' },
    })
    expectProblem(res, 400, { type: `${PROBLEM}idempotency-key-invalid` })
    expect(await h.count('posts', { text: 'never stored' })).toBe(0)
  })

  it('accepts 255 characters, escapes, and the bare form', async () => {
    const caller = await fresh()
    for (const key of [`"${'k'.repeat(255)}"`, '"a\\"b\\\\c"', 'bare-key_0190f3a4:~+/=']) {
      const res = await h.app.inject({
        method: 'PUT',
        url: `/v1/posts/${postId}/like`,
        headers: { ...caller.auth, 'idempotency-key': key },
      })
      expect(res.statusCode).toBe(200)
    }
    const keys = await h.env.schema.sql<{ key: string }[]>`
      select key from idempotency_keys where key like 'kkk%' or key like 'a"%' or key like 'bare%' order by key`
    expect(keys.map((k) => k.key.slice(0, 8))).toEqual(['a"b\\c', 'bare-key', 'kkkkkkkk'])
  })
})

describe('POST /v1/posts body', () => {
  it.each([
    ['not JSON', '{"text": ', `${PROBLEM}invalid-json`],
    ['a number', { text: 5 }, `${PROBLEM}invalid-body`],
    ['null', { text: null }, `${PROBLEM}invalid-body`],
    ['an array', { text: ['a'] }, `${PROBLEM}invalid-body`],
    ['a boolean', { text: true }, `${PROBLEM}invalid-body`],
    ['no text', {}, `${PROBLEM}invalid-body`],
    ['an unknown member', { text: 'a', mood: 'happy' }, `${PROBLEM}invalid-body`],
    ['not an object', '"just text"', `${PROBLEM}invalid-body`],
    ['an escaped NUL', '{"text":"a\\u0000b"}', `${PROBLEM}invalid-characters`],
    // PostgreSQL refuses both in text and jsonb: a 400 here, never a 503 "retry later" from the INSERT.
    ['a lone surrogate escape', '{"text":"a\\ud800b"}', `${PROBLEM}invalid-characters`],
    ['a lone low surrogate in a key', '{"\\udc00":"a"}', `${PROBLEM}invalid-characters`],
    ['JSON nested 10,000 levels', `{"text":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, `${PROBLEM}json-too-deep`],
  ])('answers 400 to %s, and stores nothing', async (_name, payload, type) => {
    const before = [await h.count('posts'), await h.count('idempotency_keys')]
    const res = await createPost(payload)
    expectProblem(res, 400, { type })
    expect([await h.count('posts'), await h.count('idempotency_keys')]).toEqual(before)
  })

  it('says where a body breaks the schema', async () => {
    expect((await createPost({ text: 5 })).json().errors).toEqual([
      { in: 'body', pointer: '/text', message: expect.any(String) },
    ])
    expect((await createPost({})).json().errors).toEqual([
      { in: 'body', pointer: '/text', message: expect.any(String) },
    ])
  })

  it('answers 415 to a body that is not JSON', async () => {
    expectProblem(await createPost('text=hi', 'application/x-www-form-urlencoded'), 415)
  })

  it.each([
    ['empty', ''],
    ['only white space', ' \n\t '],
    ['501 characters', 'a'.repeat(501)],
    ['501 astral characters', '😀'.repeat(501)],
    ['much too long', 'a'.repeat(100_000)],
    ['a tab', 'a\tb'],
    ['a bell', 'a\u0007b'],
    ['an escape sequence', 'red \u001b[31m'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u0085b'],
  ])('answers 422 invalid-post-text to a text that is %s', async (_name, text) => {
    const res = await createPost({ text })
    expectProblem(res, 422, { type: `${PROBLEM}invalid-post-text` })
    expect(res.json().errors).toEqual([{ in: 'body', pointer: '/text', message: res.json().detail }])
  })

  it('accepts 500 characters counted as code points, emoji included, and line breaks', async () => {
    for (const text of ['a'.repeat(500), '😀'.repeat(500), 'line one\nline two', 'e\u0301'.repeat(500)]) {
      const res = await createPost({ text })
      expect(res.statusCode).toBe(201)
    }
    const [row] = await h.env.schema.sql<{ n: number }[]>`
      select char_length(text)::int as n from posts where text like 'é%'`
    expect(row?.n).toBe(500)
  })
})

describe('ids', () => {
  const ID_ROUTES: [Method, (id: string) => string][] = [
    ['PUT', (id) => `/v1/posts/${id}/like`],
    ['DELETE', (id) => `/v1/posts/${id}/like`],
    ['PUT', (id) => `/v1/users/${id}/follow`],
    ['DELETE', (id) => `/v1/users/${id}/follow`],
    ['GET', (id) => `/v1/posts/${id}`],
    ['GET', (id) => `/v1/users/${id}`],
  ]

  it('answers 400 invalid-parameter to an id that is not a UUID or holds NUL, before any SQL', async () => {
    const caller = await fresh()
    // As they appear in the URL (percent-encoded).
    const ids = ['not-a-uuid', `${UNKNOWN}x`, '%00', `${UNKNOWN.slice(0, -1)}%00`, "1'%20or%20'1'='1", UNKNOWN.slice(1)]
    for (const [method, url] of ID_ROUTES) {
      for (const id of ids) {
        const res = await send(method, url(id), command(caller))
        expectProblem(res, 400, { type: `${PROBLEM}invalid-parameter` })
      }
    }
  })

  it('answers 404 to an unknown post or user', async () => {
    const caller = await fresh()
    for (const [method, url] of ID_ROUTES) {
      const res = await send(method, url(UNKNOWN), command(caller))
      const kind = url(UNKNOWN).includes('/posts/') ? 'unknown-post' : 'unknown-user'
      expectProblem(res, 404, { type: `${PROBLEM}${kind}` })
    }
  })

  it('accepts an id in upper case as the same id', async () => {
    const res = await send('GET', `/v1/posts/${postId.toUpperCase()}`, author.auth)
    expect(res.statusCode).toBe(200)
    expect(res.json().id).toBe(postId)
  })

  it('answers 422 to following or unfollowing oneself', async () => {
    for (const method of ['PUT', 'DELETE'] as const) {
      const res = await send(method, `/v1/users/${author.user.id}/follow`, command(author))
      expectProblem(res, 422, { type: `${PROBLEM}cannot-follow-self` })
    }
    expect(await h.count('follows')).toBe(0)
  })
})

describe('rate limit', () => {
  it(`answers 429 with Retry-After past ${RATE_LIMIT} commands per user and window, other users unaffected`, async () => {
    const busy = await h.newUser('busy')
    const other = await h.newUser('other')
    const url = `/v1/posts/${postId}/like`
    const answers = []
    for (let i = 0; i < RATE_LIMIT + 2; i++) answers.push(await send('PUT', url, command(busy)))
    expect(answers.slice(0, RATE_LIMIT).every((a) => a.statusCode === 200)).toBe(true)
    const limited = answers[RATE_LIMIT]
    if (!limited) throw new Error('no answer')
    expectProblem(limited, 429, { type: `${PROBLEM}rate-limited` })
    const retryAfter = Number(limited.headers['retry-after'])
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // Reads are not commands.
    expect((await send('GET', `/v1/posts/${postId}`, busy.auth)).statusCode).toBe(200)
    // Another user has a budget of their own.
    expect((await send('PUT', url, command(other))).statusCode).toBe(200)
  })
})
