import { randomUUID } from 'node:crypto'
import { MAX_EVENT_ID_LENGTH } from '@platform/contracts'
import { problemTypes } from '@platform/http'
import { expectProblem, type RawResponse, rawRequest } from '@platform/http/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ingestProblems } from '../src/problems.js'
import { sign } from '../src/signatures.js'
import { type IngestHarness, paymentEvent, SECRETS, signedPost, startIngest, TOKENS } from './harness.js'

/**
 * Input ingest must refuse with a 400 before it reaches PostgreSQL (which answered 500 or 503 "retry later" for
 * each), storing nothing: NUL in a path id, cursors that decode to dates or ids PostgreSQL refuses, JSON that jsonb
 * cannot hold, JSON nested 10,000 levels deep, and event ids too long for their own status URL. Paths go raw over
 * TCP, as sent (an HTTP client would normalise some); the table every service runs is in @platform/http/testing.
 */
let h: IngestHarness
let port: number

beforeAll(async () => {
  h = await startIngest()
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  port = (h.app.server.address() as { port: number }).port
})
afterAll(async () => {
  await h?.close()
})

const count = async (table: 'events' | 'dedupe_keys') => {
  const [row] = await h.env.schema.sql<{ n: number }[]>`select count(*)::int as n from ${h.env.schema.sql(table)}`
  return row?.n ?? 0
}
const storedNothing = async (run: () => Promise<void>) => {
  const before = [await count('events'), await count('dedupe_keys')]
  await run()
  expect([await count('events'), await count('dedupe_keys')]).toEqual(before)
}

/** GET as sent, with the source's read token. */
const get = (path: string, source: keyof typeof TOKENS = 'payment'): Promise<RawResponse> =>
  rawRequest(
    port,
    `GET ${path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ${TOKENS[source]}\r\nConnection: close\r\n\r\n`,
  )

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('ingest refuses bad input with a 400, before SQL, storing nothing', () => {
  it.each([
    '/v1/webhooks/orders/evt%00x',
    '/v1/webhooks/payment/%00',
    '/v1/webhooks/payment/evt%0Ax',
    '/v1/webhooks/%00?limit=1',
  ])('400 invalid-parameter for a control character in %s', async (path) => {
    expectProblem(await get(path), 400, { type: problemTypes.invalidParameter.type })
  })

  const id = randomUUID()
  it.each([
    { name: 'year 0', cursor: cursorOf(['0000-01-01T00:00:00.000Z', id]) },
    { name: 'year -271821', cursor: cursorOf(['-271821-04-20T00:00:00.000Z', id]) },
    { name: 'year 275760', cursor: cursorOf(['+275760-09-13T00:00:00.000Z', id]) },
    { name: 'a number 8.64e15', cursor: cursorOf([8.64e15, id]) },
    { name: 'a date that does not exist', cursor: cursorOf(['2025-02-30T00:00:00.000Z', id]) },
    { name: 'an id of 36 dashes', cursor: cursorOf([new Date().toISOString(), '-'.repeat(36)]) },
    { name: 'an id that is not a UUID', cursor: cursorOf([new Date().toISOString(), 'z'.repeat(36)]) },
    { name: 'an object', cursor: cursorOf({ at: new Date().toISOString(), id }) },
    { name: 'not base64url JSON', cursor: 'not-a-cursor' },
  ])('400 invalid-cursor for a cursor with $name', async ({ cursor }) => {
    expectProblem(await get(`/v1/webhooks/payment?cursor=${encodeURIComponent(cursor)}`), 400, {
      type: problemTypes.invalidCursor.type,
      title: 'Invalid cursor',
    })
  })

  it('a cursor from a previous page still works', async () => {
    for (let i = 0; i < 2; i++) await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded')))
    const first = await get('/v1/webhooks/payment?limit=1')
    const { next_cursor: next } = first.json() as { next_cursor: string }
    expect(first.statusCode).toBe(200)
    const second = await get(`/v1/webhooks/payment?limit=1&cursor=${next}`)
    expect(second.statusCode).toBe(200)
    expect((second.json() as { items: unknown[] }).items).toHaveLength(1)
  })

  /** A payment event's JSON text with `rawId` as written between the quotes of its id (escapes stay escapes). */
  const event = (rawId: string) =>
    JSON.stringify(paymentEvent('charge.succeeded', { id: '@ID@' })).replace('@ID@', rawId)
  const deep = (levels: number) =>
    event(`evt_${randomUUID()}`).replace('"currency"', `"deep":${'['.repeat(levels)}${']'.repeat(levels)},"currency"`)
  it.each([
    {
      name: 'a lone surrogate in a value',
      body: event('evt_x').replace('"eur"', '"eu\\ud800"'),
      type: problemTypes.invalidCharacters,
    },
    { name: 'a lone surrogate in the event id', body: event('evt_\\ud800'), type: problemTypes.invalidCharacters },
    { name: 'a reversed surrogate pair', body: event('evt_\\udc00\\ud800'), type: problemTypes.invalidCharacters },
    {
      name: '\\u0000 in a value',
      body: event('evt_y').replace('"eur"', '"eu\\u0000"'),
      type: problemTypes.invalidCharacters,
    },
    { name: '\\u0000 in the event id', body: event('evt_\\u0000'), type: problemTypes.invalidCharacters },
    { name: 'nesting 10,000 levels deep', body: deep(10_000), type: problemTypes.jsonTooDeep },
    { name: 'nesting 100,000 levels deep', body: deep(100_000), type: problemTypes.jsonTooDeep },
    {
      name: 'an event id of MAX+1 characters',
      body: event('e'.repeat(MAX_EVENT_ID_LENGTH + 1)),
      type: ingestProblems.invalidWebhook,
    },
    { name: 'a control character in the event id', body: event('evt_\\t1'), type: ingestProblems.invalidWebhook },
  ])('400 for a signed body with $name', async ({ body, type }) => {
    await storedNothing(async () => {
      const res = await h.app.inject(signedPost('payment', body))
      expectProblem(res, 400, { type: type.type })
    })
  })

  it('400 for an X-GitHub-Delivery of MAX+1 characters', async () => {
    await storedNothing(async () => {
      const payload = JSON.stringify({ action: 'opened' })
      const headers = sign.github(SECRETS.gh[0] as string, 'd'.repeat(MAX_EVENT_ID_LENGTH + 1), payload)
      const res = await h.app.inject({
        method: 'POST',
        url: '/v1/webhooks/gh',
        headers: { 'content-type': 'application/json', ...headers },
        payload,
      })
      expectProblem(res, 400, { type: ingestProblems.invalidWebhook.type })
    })
  })

  it('accepts JSON nested MAX_JSON_DEPTH deep, a surrogate pair and an escaped backslash before u0000', async () => {
    const body = event(`evt_😀_${randomUUID()}`)
      .replace('"ord_', '"ord_\\ud83d\\ude00 \\\\u0000')
      .replace('"currency"', `"deep":${'['.repeat(120)}${']'.repeat(120)},"currency"`)
    const res = await h.app.inject(signedPost('payment', body))
    expect(res.statusCode).toBe(200)
  })

  it.each([
    { name: 'ASCII', id: (n: number) => 'e'.repeat(n) },
    { name: 'astral characters', id: (n: number) => '😀'.repeat(n) },
  ])(
    'an event id of MAX_EVENT_ID_LENGTH $name is accepted and its status URL answers; MAX+1 is a 400',
    async ({ id }) => {
      const eventId = id(MAX_EVENT_ID_LENGTH)
      const accepted = await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded', { id: eventId })))
      expect(accepted.statusCode).toBe(200)
      const { status_url: statusUrl } = accepted.json() as { status_url: string }
      const status = await get(statusUrl)
      expect(status.statusCode).toBe(200)
      expect(status.json()).toMatchObject({ event_id: eventId, status: 'queued' })

      await storedNothing(async () => {
        const tooLong = id(MAX_EVENT_ID_LENGTH + 1)
        const rejected = await h.app.inject(signedPost('payment', paymentEvent('charge.succeeded', { id: tooLong })))
        expectProblem(rejected, 400, { type: ingestProblems.invalidWebhook.type })
        const missing = await get(`/v1/webhooks/payment/${encodeURIComponent(tooLong)}`)
        expectProblem(missing, 400, { type: problemTypes.invalidParameter.type })
      })
    },
  )
})
