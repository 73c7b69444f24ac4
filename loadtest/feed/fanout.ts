/**
 * Fan-out time (issue 14's target: a post by an author with 10,000 followers is in all their feeds within 2 s, p99
 * over 20 posts) and the worker's throughput in feed entries written per second, beside a direct bulk insert of
 * the same rows (one INSERT ... SELECT from follows into user_feed, rolled back): what the database alone can write.
 */
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Sql } from '@platform/db'
import { waitFor } from '@platform/testing'

export interface Author {
  id: string
  followers: number
}

/** The seeded author whose follower count is the closest to `target` without being a large account. */
export async function authorNear(sql: Sql, target: number, largeAbove: number): Promise<Author | undefined> {
  const [row] = await sql<{ id: string; followers: number }[]>`
    select id, follower_count::int as followers from users
    where follower_count <= ${largeAbove}
    order by abs(follower_count - ${target}), id limit 1`
  return row
}

export interface FanoutResult {
  seconds: number[]
  p50: number
  p99: number
  max: number
  /** Feed entries (followers x posts) per second of fan-out time. */
  entriesPerSecond: number
  /** Posts whose fan-out did not complete within the timeout. */
  incomplete: number
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

/** One post by the author through the API; resolves with its id once answered 201. */
async function post(url: string, token: string, text: string): Promise<string> {
  const res = await fetch(`${url}/v1/posts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ text }),
  })
  if (res.status !== 201) throw new Error(`POST /v1/posts answered ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { id: string }).id
}

/** Seconds from `since` until user_feed holds `postId` for every follower and the author; undefined on timeout. */
async function fannedOut(sql: Sql, postId: string, author: Author, since: number, timeoutMs: number) {
  try {
    await waitFor(
      async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from user_feed where post_id = ${postId}`
        // every follower's entry and the author's own
        return (row?.n ?? 0) >= author.followers + 1
      },
      { timeoutMs, intervalMs: 10, message: `post ${postId} in ${author.followers} feeds` },
    )
    return (performance.now() - since) / 1000
  } catch {
    return undefined
  }
}

function summary(seconds: (number | undefined)[], author: Author, timeoutMs: number, elapsed?: number): FanoutResult {
  const times = seconds.map((s) => s ?? timeoutMs / 1000)
  const sorted = [...times].sort((a, b) => a - b)
  return {
    seconds: times,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted[sorted.length - 1] ?? 0,
    entriesPerSecond: (author.followers * times.length) / (elapsed ?? times.reduce((a, b) => a + b, 0)),
    incomplete: seconds.filter((s) => s === undefined).length,
  }
}

/**
 * `posts` posts by `author`, one after the other: each timed from its 201 to the moment user_feed holds it for
 * every follower and the author (polled every 10 ms, at most `timeoutMs`).
 */
export async function measureFanout(
  sql: Sql,
  url: string,
  token: string,
  author: Author,
  posts: number,
  timeoutMs = 30_000,
): Promise<FanoutResult> {
  const seconds: (number | undefined)[] = []
  for (let i = 0; i < posts; i++) {
    const id = await post(url, token, `fan-out probe ${i + 1}`)
    seconds.push(await fannedOut(sql, id, author, performance.now(), timeoutMs))
  }
  return summary(seconds, author, timeoutMs)
}

/**
 * `posts` posts by `author` sent at once (a burst of large fan-outs): each timed from the first 201 to the moment
 * user_feed holds it for everyone, so the p99 is how long the last followers wait while the worker drains them all.
 */
export async function measureFanoutBurst(
  sql: Sql,
  url: string,
  token: string,
  author: Author,
  posts: number,
  timeoutMs = 60_000,
): Promise<FanoutResult> {
  const ids = await Promise.all(Array.from({ length: posts }, (_, i) => post(url, token, `fan-out burst ${i + 1}`)))
  const started = performance.now()
  const seconds = await Promise.all(ids.map((id) => fannedOut(sql, id, author, started, timeoutMs)))
  return summary(seconds, author, timeoutMs, Math.max(...seconds.map((s) => s ?? timeoutMs / 1000)))
}

/** The baseline: `rounds` direct bulk inserts of the author's followers' entries for a made-up post, each rolled back. */
export async function bulkInsertBaseline(sql: Sql, author: Author, rounds: number): Promise<number> {
  let rows = 0
  let ms = 0
  for (let i = 0; i < rounds; i++) {
    await sql
      .begin(async (tx) => {
        // a UUIDv7-shaped id of now: it sorts where the post would
        const hex = Date.now().toString(16).padStart(12, '0')
        const postId = `${hex.slice(0, 8)}-${hex.slice(8)}-7${randomUUID().slice(15)}`
        const start = performance.now()
        const inserted = await tx`
          insert into user_feed (user_id, post_id, author_id, created_at)
          select follower_id, ${postId}, ${author.id}, now() from follows where followee_id = ${author.id}`
        ms += performance.now() - start
        rows += inserted.count
        throw new Rollback()
      })
      .catch((error) => {
        if (!(error instanceof Rollback)) throw error
      })
  }
  return rows / (ms / 1000)
}

class Rollback extends Error {}
