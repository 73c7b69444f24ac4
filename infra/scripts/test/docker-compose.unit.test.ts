import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'

/**
 * docker-compose.yml, the platform on Docker: a container that dies comes back on its own, as a service does under
 * `npm start` (infra/scripts/lib/supervisor.ts). Read with YAML merge keys, so `<<: *service` counts.
 * https://docs.docker.com/reference/compose-file/services/#restart
 */
const compose = parse(readFileSync(new URL('../../../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as { services: Record<string, { restart?: string }> }

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
})
