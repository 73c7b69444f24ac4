import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { MIX as NPM_MIX, requests, type ScenarioData } from '../../../loadtest/feed/scenarios.js'

/**
 * The container variant of the feed load tests, checked where no Docker engine exists: the compose wiring of the
 * `loadtest` profile (k6 in its image, the bare route from the platform's image), the k6 scripts (Node parses each;
 * their shared lib is imported here, it imports no k6 module) and `task test:load` choosing between both variants.
 * The k6 requests and runs must be those of the npm variant (loadtest/feed/scenarios.ts, bench.ts).
 */
const file = (path: string) => new URL(`../../../${path}`, import.meta.url)
const compose = parse(readFileSync(file('docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      image?: string
      restart?: string
      profiles?: string[]
      command?: string[]
      environment?: Record<string, string>
      volumes?: string[]
      depends_on?: Record<string, { condition: string }>
    }
  >
}
const K6_DIR = 'loadtest/feed/k6'
const SCENARIOS = ['feed', 'hot', 'post', 'like', 'mixed']
const lib = (await import(fileURLToPath(file(`${K6_DIR}/lib.js`)))) as {
  SCENARIOS: string[]
  MIX: [string, number][]
  optionsFor(name: string, env: Record<string, string>): { scenarios: Record<string, Record<string, unknown>> }
  requestFor(name: string, data: ScenarioData, random?: () => number): Record<string, unknown>
  hitRatio(before: object, after: object): string
  cacheCounters(text: string): Record<string, { hit: number; miss: number }>
}
/** A compose interpolation `${VAR:-default}`, spelt without a template literal's placeholder. */
const interpolation = (variable: string) => ['$', '{', variable, '}'].join('')
/** A bind mount's host path for a container path. */
const mountOf = (service: string, target: string) =>
  compose.services[service]?.volumes?.map((v) => v.split(':')).find(([, c]) => c === target)?.[0]

describe('the feed load tests in containers', () => {
  it('puts k6 (pinned) and the bare route in the loadtest profile only, as one-shot jobs', () => {
    const inProfile = Object.entries(compose.services)
      .filter(([, s]) => s.profiles?.includes('loadtest'))
      .map(([name]) => name)
    expect(inProfile.sort()).toEqual(['loadtest', 'loadtest-bare'])
    expect(compose.services.loadtest?.image).toMatch(/^grafana\/k6:\d+\.\d+\.\d+$/)
    for (const name of inProfile) expect(compose.services[name]?.restart).toBe('no')
  })

  it('runs /scripts/<scenario>.js from loadtest/feed/k6 against the feed and the bare route of the compose file', () => {
    const k6 = compose.services.loadtest
    expect(mountOf('loadtest', '/scripts')).toBe(`./${K6_DIR}`)
    expect(k6?.command).toEqual(['run', `/scripts/${interpolation('SCENARIO:-feed')}.js`])
    for (const name of SCENARIOS) expect(existsSync(file(`${K6_DIR}/${name}.js`)), `${name}.js`).toBe(true)
    // the URLs name the services and the ports they listen on
    expect(k6?.environment?.FEED_URL).toBe(`http://feed:${compose.services.feed?.environment?.PORT}`)
    expect(k6?.environment?.BARE_URL).toBe(
      `http://loadtest-bare:${compose.services['loadtest-bare']?.environment?.PORT}`,
    )
    expect(Object.keys(k6?.depends_on ?? {})).toEqual(expect.arrayContaining(['feed', 'feed-worker', 'loadtest-bare']))
    // the tokens file run.sh writes (loadtest/results on the host) is where the scripts read it
    expect(mountOf('loadtest', '/results')).toBe('./loadtest/results')
    expect(k6?.environment?.TOKENS_FILE).toBe('/results/feed-tokens.json')
    expect(readFileSync(file(`${K6_DIR}/run.sh`), 'utf8')).toContain('>loadtest/results/feed-tokens.json')
    // the bare route: the same server file as the npm variant, mounted where the image's Fastify resolves
    const bare = compose.services['loadtest-bare']
    expect(bare?.image).toBe(compose.services.feed?.image)
    expect(bare?.command).toEqual(['node', 'loadtest/feed/bare-server.mjs'])
    expect(mountOf('loadtest-bare', '/app/loadtest/feed')).toBe('./loadtest/feed')
    // the feed signs with the key the tokens are signed with
    expect(compose.services.feed?.environment?.FEED_JWT_KEYS).toBe(interpolation('FEED_JWT_KEYS:-'))
  })

  it('has k6 scripts that parse, each exporting what k6 runs, importing only k6 modules and this folder', () => {
    const scripts = readdirSync(file(K6_DIR)).filter((f) => f.endsWith('.js'))
    expect(scripts).toEqual(expect.arrayContaining([...SCENARIOS.map((s) => `${s}.js`), 'lib.js', 'script.js']))
    for (const script of scripts) {
      const path = fileURLToPath(file(`${K6_DIR}/${script}`))
      execFileSync(process.execPath, ['--check', path])
      for (const [, from] of readFileSync(path, 'utf8').matchAll(/^import .* from '([^']+)'/gm)) {
        expect({ script, from }).toEqual({ script, from: expect.stringMatching(/^(k6(\/[a-z]+)*|\.\/[a-z-]+\.js)$/) })
      }
    }
    for (const name of SCENARIOS) {
      const text = readFileSync(file(`${K6_DIR}/${name}.js`), 'utf8')
      expect(text).toContain(`scenarioScript('${name}')`)
      for (const exported of ['options', 'setup', 'run', 'teardown', 'handleSummary']) {
        expect(text).toMatch(new RegExp(`export const ${exported} = script\\.${exported}`))
      }
      expect(text).toContain('export default script.run')
    }
  })

  it('runs each scenario against the bare route and the feed, closed (constant VUs) then open (arrival rate)', () => {
    expect(lib.SCENARIOS).toEqual(SCENARIOS)
    const { scenarios } = lib.optionsFor('feed', { DURATION: '5s', VUS: '32', RATE: '' })
    expect(Object.keys(scenarios)).toEqual(['bare_closed', 'feed_closed', 'bare_open', 'feed_open'])
    expect(scenarios.feed_closed).toMatchObject({ executor: 'constant-vus', vus: 32, duration: '5s', exec: 'run' })
    // no RATE: the 2,000 requests/s for the personal feed
    expect(scenarios.feed_open).toMatchObject({ executor: 'constant-arrival-rate', rate: 2000, timeUnit: '1s' })
    expect(scenarios.bare_open?.env).toEqual({ TARGET: 'bare' })
    // one after the other, never overlapping
    const starts = Object.values(scenarios).map((s) => Number.parseInt(String(s.startTime), 10))
    expect(starts).toEqual([0, 7, 14, 21])
  })

  it('sends the requests of the npm variant, with the same mix', () => {
    const data: ScenarioData = { tokens: ['t1'], postIds: ['0190a5f2-0000-7000-8000-000000000001'] }
    const strip = (r: Record<string, unknown>) => {
      const headers = { ...(r.headers as Record<string, string>) }
      delete headers['idempotency-key']
      return { method: r.method, path: r.path, headers, text: r.body ? JSON.parse(String(r.body)).text : undefined }
    }
    for (const name of ['feed', 'hot', 'post', 'like'] as const) {
      const npm = strip(requests[name](data) as unknown as Record<string, unknown>)
      const k6 = strip(lib.requestFor(name, data))
      expect({ ...k6, text: typeof k6.text }).toEqual({ ...npm, text: typeof npm.text })
    }
    const k6Post = lib.requestFor('post', data) as { headers: Record<string, string> }
    expect(k6Post.headers['idempotency-key']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
    expect(lib.MIX).toEqual(NPM_MIX)
    const hits = lib.cacheCounters(
      'feed_cache_requests_total{cache="timeline",result="hit"} 9\nfeed_cache_requests_total{cache="timeline",result="miss"} 1\n',
    )
    expect(lib.hitRatio({}, hits)).toBe('timeline 90.0% of 10')
  })

  it('is what `task test:load` runs when `docker info` answers, and the npm variant otherwise', () => {
    const task = parse(readFileSync(file('Taskfile.yml'), 'utf8')).tasks['test:load'] as { cmds: string[] }
    const script = task.cmds.join('\n')
    expect(script).toMatch(
      /if docker info >\/dev\/null 2>&1; then\s+bash loadtest\/feed\/k6\/run\.sh\s+else\s+bash loadtest\/run\.sh/,
    )
    expect(existsSync(file('loadtest/feed/bench.ts'))).toBe(true)
  })
})
