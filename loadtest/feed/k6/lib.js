/**
 * The container variant of the feed load tests (docs/performance.md#feed): what the k6 scripts beside this file
 * share. Pure functions of k6's __ENV and the tokens file, no k6 module imported here, so a unit test without k6
 * or Docker imports this file and checks it (infra/scripts/test/loadtest-feed.unit.test.ts). The requests are
 * those of ../scenarios.ts; the runs those of ../bench.ts: each scenario against the bare route (loadtest-bare,
 * same body size) and against the feed, in the closed model (constant-vus: saturation) and the open one
 * (constant-arrival-rate: k6 starts each iteration at its scheduled time whether or not earlier ones have
 * returned, so latency has no coordinated omission as long as preAllocatedVUs suffice; it reports
 * dropped_iterations when they do not).
 *
 * Environment: FEED_URL, BARE_URL, TOKENS_FILE (JSON {tokens, postIds}: loadtest/feed/k6/tokens.ts), DURATION (10s),
 * VUS (64), RATE (per second: 2000 feed and hot, 200 post and like, 1000 mixed), RABBITMQ_URL (management API).
 */

export const SCENARIOS = ['feed', 'hot', 'post', 'like', 'mixed']
export const DEFAULT_RATES = { feed: 2000, hot: 2000, post: 200, like: 200, mixed: 1000 }
/** The mixed run: 90% reads. The same shares as ../scenarios.ts MIX. */
export const MIX = [
  ['feed', 0.7],
  ['hot', 0.2],
  ['post', 0.05],
  ['like', 0.05],
]

const seconds = (duration) => Number(/^(\d+)s$/.exec(duration)?.[1] ?? 10)

/**
 * k6 options: four runs one after the other (a 2 s gap between them), each its own k6 scenario, tagged with
 * `target` (bare | feed) and `model` (closed | open), so the summary splits every metric by them.
 */
export function optionsFor(name, env) {
  const duration = env.DURATION ?? '10s'
  const vus = Number(env.VUS ?? 64)
  const rate = env.RATE ? Number(env.RATE) : DEFAULT_RATES[name]
  const step = seconds(duration) + 2
  const run = (target, model, index) => {
    const base = { exec: 'run', startTime: `${index * step}s`, tags: { target, model }, env: { TARGET: target } }
    return model === 'closed'
      ? { ...base, executor: 'constant-vus', vus, duration }
      : {
          ...base,
          executor: 'constant-arrival-rate',
          rate,
          timeUnit: '1s',
          duration,
          preAllocatedVUs: Math.max(vus, Math.ceil(rate / 10)),
          maxVUs: Math.max(vus, Math.ceil(rate / 2)),
        }
  }
  return {
    scenarios: {
      bare_closed: run('bare', 'closed', 0),
      feed_closed: run('feed', 'closed', 1),
      bare_open: run('bare', 'open', 2),
      feed_open: run('feed', 'open', 3),
    },
    summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
    // one sub-metric per run, so the summary has each run's latency, rate and errors
    thresholds: Object.fromEntries(
      ['bare', 'feed'].flatMap((target) =>
        ['closed', 'open'].flatMap((model) => [
          [`http_req_duration{target:${target},model:${model}}`, ['max>=0']],
          [`http_reqs{target:${target},model:${model}}`, ['count>=0']],
          [`http_req_failed{target:${target},model:${model}}`, ['rate>=0']],
        ]),
      ),
    ),
  }
}

const pick = (list, random) => list[Math.floor(random() * list.length)]
let counter = 0

/** A random UUIDv4 from `random` (an Idempotency-Key). */
function uuid(random) {
  const hex = () => Math.floor(random() * 16).toString(16)
  const s = Array.from({ length: 32 }, hex)
  s[12] = '4'
  s[16] = ((Number.parseInt(s[16], 16) & 3) | 8).toString(16)
  const j = s.join('')
  return `${j.slice(0, 8)}-${j.slice(8, 12)}-${j.slice(12, 16)}-${j.slice(16, 20)}-${j.slice(20)}`
}

/** The next request of scenario `name`: { method, path, headers, body }, as ../scenarios.ts makes it. */
export function requestFor(name, data, random = Math.random) {
  if (name === 'mixed') {
    let r = random()
    for (const [part, share] of MIX) {
      r -= share
      if (r < 0) return requestFor(part, data, random)
    }
    return requestFor('feed', data, random)
  }
  const auth = () => ({ authorization: `Bearer ${pick(data.tokens, random)}` })
  switch (name) {
    case 'feed':
      return { method: 'GET', path: '/v1/feed?limit=20', headers: auth(), body: null }
    case 'hot':
      return { method: 'GET', path: '/v1/feed/hot?limit=50', headers: {}, body: null }
    case 'post':
      counter++
      return {
        method: 'POST',
        path: '/v1/posts',
        headers: { ...auth(), 'content-type': 'application/json', 'idempotency-key': uuid(random) },
        body: JSON.stringify({ text: `load test post ${counter}` }),
      }
    case 'like':
      return {
        method: 'PUT',
        path: `/v1/posts/${pick(data.postIds, random)}/like`,
        headers: { ...auth(), 'idempotency-key': uuid(random) },
        body: null,
      }
    default:
      throw new Error(`unknown scenario ${name}`)
  }
}

/** feed_cache_requests_total per cache: { timeline: { hit, miss }, ... } from a /metrics text. */
export function cacheCounters(text) {
  const out = {}
  for (const m of text.matchAll(/^feed_cache_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const cache = /cache="([^"]*)"/.exec(m[1])?.[1] ?? '?'
    const result = /result="([^"]*)"/.exec(m[1])?.[1]
    out[cache] ??= { hit: 0, miss: 0 }
    out[cache][result === 'hit' ? 'hit' : 'miss'] += Number(m[2])
  }
  return out
}

/** "timeline 99.1% of 12000, hot 100.0% of 3000" between two cacheCounters. */
export function hitRatio(before, after) {
  const parts = Object.entries(after).flatMap(([cache, end]) => {
    const start = before[cache] ?? { hit: 0, miss: 0 }
    const hit = end.hit - start.hit
    const total = hit + end.miss - start.miss
    return total > 0 ? [`${cache} ${((hit / total) * 100).toFixed(1)}% of ${total}`] : []
  })
  return parts.length > 0 ? parts.join(', ') : 'n/a'
}

/** One line per run from k6's summary data: RPS (over the run's own duration), p50/p95/p99, error rate. */
export function summaryLines(name, data, env) {
  const runSeconds = seconds(env.DURATION ?? '10s')
  const lines = []
  for (const target of ['bare', 'feed']) {
    for (const model of ['closed', 'open']) {
      const tag = `{target:${target},model:${model}}`
      const d = data.metrics[`http_req_duration${tag}`]?.values ?? {}
      const reqs = data.metrics[`http_reqs${tag}`]?.values ?? {}
      const failed = data.metrics[`http_req_failed${tag}`]?.values ?? {}
      const f = (v) => (v ?? 0).toFixed(1)
      lines.push(
        `${name} ${target.padEnd(4)} ${model.padEnd(6)} ${f((reqs.count ?? 0) / runSeconds)}/s p50/p95/p99 ${f(d['p(50)'])}/${f(d['p(95)'])}/${f(d['p(99)'])} ms errors ${((failed.rate ?? 0) * 100).toFixed(2)}%`,
      )
    }
  }
  return lines
}
