/**
 * The body every k6 script of this folder shares: `scenarioScript('feed')` gives what a k6 script exports. Run in
 * the grafana/k6 image by the `loadtest` service of docker-compose.yml (`task test:load` with Docker):
 *   k6 run /scripts/<scenario>.js
 * It must be called from a script's top level (k6's init context), where open() may read the tokens file.
 */
import http from 'k6/http'
import { cacheCounters, hitRatio, optionsFor, requestFor, summaryLines } from './lib.js'

export function scenarioScript(name) {
  const data = JSON.parse(open(__ENV.TOKENS_FILE ?? '/results/feed-tokens.json'))
  const feedUrl = __ENV.FEED_URL ?? 'http://feed:3002'
  const bareUrl = __ENV.BARE_URL ?? 'http://loadtest-bare:3100'
  const rabbit = __ENV.RABBITMQ_URL ?? 'http://rabbitmq:15672'
  const rabbitAuth = `Basic ${__ENV.RABBITMQ_BASIC ?? 'Z3Vlc3Q6Z3Vlc3Q='}`

  return {
    options: optionsFor(name, __ENV),
    setup() {
      return { before: cacheCounters(http.get(`${feedUrl}/metrics`).body ?? '') }
    },
    run() {
      const r = requestFor(name, data)
      const base = __ENV.TARGET === 'bare' ? bareUrl : feedUrl
      http.request(r.method, `${base}${r.path}`, r.body, { headers: r.headers, tags: { name } })
    },
    teardown(setupData) {
      const after = cacheCounters(http.get(`${feedUrl}/metrics`).body ?? '')
      const queues = http.get(`${rabbit}/api/queues?columns=name,messages`, { headers: { authorization: rabbitAuth } })
      const queued = queues.status === 200 ? queues.json().reduce((sum, q) => sum + (q.messages ?? 0), 0) : 'n/a'
      console.log(`${name}: queue backlog ${queued} messages; cache ${hitRatio(setupData.before, after)}`)
    },
    handleSummary(summary) {
      return {
        stdout: `${summaryLines(name, summary, __ENV).join('\n')}\n`,
        [`/results/feed-k6-${name}.json`]: JSON.stringify(summary, null, 2),
      }
    },
  }
}
