/**
 * The feed's load scenarios (issue 14 §5), as request factories both load models share: each call returns the next
 * request, with a seeded user's access token picked at random (and a fresh Idempotency-Key for commands).
 * The k6 scripts under k6/ send the same requests (k6/scenarios.js).
 */
import { randomUUID } from 'node:crypto'
import type { LoadRequest } from './load-models.js'

export type ScenarioName = 'feed' | 'hot' | 'post' | 'like' | 'mixed'

export interface ScenarioData {
  /** Access tokens of active seeded users. */
  tokens: string[]
  /** Ids of recent seeded posts, for likes. */
  postIds: string[]
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T
const bearer = (data: ScenarioData) => ({ authorization: `Bearer ${pick(data.tokens)}` })
let counter = 0

export const requests: Record<Exclude<ScenarioName, 'mixed'>, (data: ScenarioData) => LoadRequest> = {
  /** The main scenario: the first page of one's personal feed. */
  feed: (data) => ({ method: 'GET', path: '/v1/feed?limit=20', headers: bearer(data) }),
  /** The public hot feed's first page. */
  hot: () => ({ method: 'GET', path: '/v1/feed/hot?limit=50', headers: {} }),
  /** A new post: the command, then the fan-out to the author's followers in the worker. */
  post: (data) => ({
    method: 'POST',
    path: '/v1/posts',
    headers: { ...bearer(data), 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ text: `load test post ${++counter}` }),
  }),
  /** A like of a recent post (a repeat of an existing like answers 200 too). */
  like: (data) => ({
    method: 'PUT',
    path: `/v1/posts/${pick(data.postIds)}/like`,
    headers: { ...bearer(data), 'idempotency-key': randomUUID() },
  }),
}

/** The mixed run: 90% reads (70% personal feed, 20% hot feed), 10% writes (5% posts, 5% likes). */
export const MIX: readonly [Exclude<ScenarioName, 'mixed'>, number][] = [
  ['feed', 0.7],
  ['hot', 0.2],
  ['post', 0.05],
  ['like', 0.05],
]

export function scenario(name: ScenarioName, data: ScenarioData): () => LoadRequest {
  if (name !== 'mixed') return () => requests[name](data)
  return () => {
    let r = Math.random()
    for (const [part, share] of MIX) {
      r -= share
      if (r < 0) return requests[part](data)
    }
    return requests.feed(data)
  }
}
