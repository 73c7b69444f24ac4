import { existsSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { imageCmd, parseDockerfile } from '../lib/dockerfile.js'

/**
 * docker-compose.yml, the platform on Docker: a container that dies comes back on its own, as a service does under
 * `npm start` (infra/scripts/lib/supervisor.ts). Read with YAML merge keys, so `<<: *service` counts.
 * https://docs.docker.com/reference/compose-file/services/#restart
 */
const compose = parse(readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as {
  services: Record<
    string,
    { restart?: string; command?: string[]; environment?: Record<string, string>; healthcheck?: { test?: string[] } }
  >
}
const file = (path: string) => new URL(`../../../${path}`, import.meta.url)
const json = (path: string) => JSON.parse(readFileSync(file(path), 'utf8'))

const INFRASTRUCTURE = ['postgres', 'redis', 'rabbitmq', 'clickhouse']
const PLATFORM = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper']

describe('docker-compose.yml', () => {
  it('gives every service a restart policy that brings a crashed container back', () => {
    const services = Object.keys(compose.services)
    expect(services).toEqual(expect.arrayContaining([...INFRASTRUCTURE, ...PLATFORM]))
    const policies = Object.fromEntries(services.map((name) => [name, compose.services[name]?.restart]))
    for (const [name, policy] of Object.entries(policies)) {
      expect({ name, policy }).toEqual({
        name,
        policy: expect.stringMatching(/^(always|unless-stopped|on-failure(:\d+)?)$/),
      })
    }
  })

  // The image runs compiled JavaScript (Dockerfile): src/server.ts becomes dist/server.js by the service's
  // tsconfig.build.json; the Node flags are those of its package.json ("platform.nodeArgs"), as under `npm start`.
  it("runs every service from the compiled entry point of its sources, with its package.json's Node flags", () => {
    for (const name of PLATFORM) {
      const build = json(`services/${name}/tsconfig.build.json`) as { compilerOptions: Record<string, string> }
      expect(build.compilerOptions).toMatchObject({ rootDir: 'src', outDir: 'dist' })
      expect(existsSync(file(`services/${name}/src/server.ts`)), `services/${name}/src/server.ts`).toBe(true)
      const nodeArgs = (json(`services/${name}/package.json`).platform?.nodeArgs ?? []) as string[]
      expect({ name, command: compose.services[name]?.command }).toEqual({
        name,
        command: ['node', ...nodeArgs, `services/${name}/dist/server.js`],
      })
    }
    const dockerfile = parseDockerfile(readFileSync(file('Dockerfile'), 'utf8'))
    expect(imageCmd(dockerfile)).toEqual(compose.services.ingest?.command)
  })

  // The feed's fan-out worker: the feed's image and configuration, its own process (npm start runs it beside the
  // API too, infra/scripts/run-all.ts); its probes on FEED_WORKER_PORT, not the API's PORT.
  it('runs the feed worker from the compiled services/feed/src/worker.ts, its health check on its own port', () => {
    const worker = compose.services['feed-worker']
    expect(existsSync(file('services/feed/src/worker.ts'))).toBe(true)
    expect(worker?.command).toEqual(['node', 'services/feed/dist/worker.js'])
    expect(worker?.environment?.FEED_WORKER_PORT).toBe('3006')
    expect(worker?.healthcheck?.test?.join(' ')).toContain("process.env.FEED_WORKER_PORT + '/health/ready'")
  })
})
