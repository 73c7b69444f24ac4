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
}) as { services: Record<string, ComposeService> }

interface ComposeService {
  image?: string
  build?: string
  restart?: string
  command?: string[]
  profiles?: string[]
  ports?: string[]
  volumes?: string[]
  environment?: Record<string, string>
  healthcheck?: { test?: string[] }
}
const file = (path: string) => new URL(`../../../${path}`, import.meta.url)
const json = (path: string) => JSON.parse(readFileSync(file(path), 'utf8'))

const INFRASTRUCTURE = ['postgres', 'redis', 'rabbitmq', 'clickhouse']
const OBSERVABILITY = ['prometheus', 'grafana', 'otel-collector', 'jaeger']

/** A bind mount `./host:/container[:ro]` of `service` whose container path is `target`: the host path. */
const mountOf = (service: string, target: string) =>
  compose.services[service]?.volumes
    ?.map((v) => v.split(':'))
    .find(([host, container]) => host?.startsWith('./') && container === target)?.[0]
const yaml = (path: string) => parse(readFileSync(file(path), 'utf8'))
const published = (service: string) =>
  (compose.services[service]?.ports ?? []).map((p) => p.split(':').slice(-2).join(':'))
const PLATFORM = ['ingest', 'feed', 'analytics', 'processor', 'log-shipper']

describe('docker-compose.yml', () => {
  it('gives every service a restart policy that brings a crashed container back', () => {
    const services = Object.keys(compose.services)
    expect(services).toEqual(expect.arrayContaining([...INFRASTRUCTURE, ...PLATFORM]))
    // the load tests' containers (profile loadtest) are one-shot jobs: loadtest-feed.unit.test.ts checks them
    const policies = Object.fromEntries(
      services
        .filter((name) => !compose.services[name]?.profiles?.includes('loadtest'))
        .map((name) => [name, compose.services[name]?.restart]),
    )
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

  // Analytics' weekly and monthly estimates need the hll extension (migration 0003); without it they answer 501.
  it('builds PostgreSQL with the hll extension, for the major version of its base image', () => {
    expect(compose.services.postgres?.build).toBe('infra/postgres')
    const [stage] = parseDockerfile(readFileSync(file('infra/postgres/Dockerfile'), 'utf8'))
    expect(stage?.from).toMatch(/^postgres:\d+$/)
    const installs = stage?.instructions.filter((i) => i.kind === 'RUN').map((i) => i.command) ?? []
    // PG_MAJOR is the official image's own variable: the package follows the base image's version.
    expect(installs.join('\n')).toMatch(/apt-get install .*"postgresql-\$\{PG_MAJOR\}-hll"/)
  })

  it('runs RabbitMQ with rabbitmq_prometheus enabled and its :15692 published (infra/prometheus scrapes it)', () => {
    const plugins = readFileSync(file(mountOf('rabbitmq', '/etc/rabbitmq/enabled_plugins') ?? 'missing'), 'utf8')
    expect(plugins).toMatch(/\brabbitmq_prometheus\b/)
    expect(published('rabbitmq')).toContain('15692:15692')
  })

  // Prometheus, Grafana, an OpenTelemetry Collector and Jaeger (issue 17) start only with `--profile observability`.
  describe('the observability profile', () => {
    it('holds Prometheus, Grafana, the collector and Jaeger, each pinned to a version; nothing else is in it', () => {
      const inProfile = Object.entries(compose.services)
        .filter(([, service]) => service.profiles?.includes('observability'))
        .map(([name]) => name)
      expect(inProfile.sort()).toEqual([...OBSERVABILITY].sort())
      for (const name of OBSERVABILITY) {
        expect({ name, image: compose.services[name]?.image }).toEqual({
          name,
          image: expect.stringMatching(/^[a-z/-]+:v?\d+\.\d+\.\d+$/),
        })
      }
      for (const name of [...INFRASTRUCTURE, ...PLATFORM]) expect(compose.services[name]?.profiles).toBeUndefined()
    })

    it('runs Prometheus on infra/prometheus (the scrape config and the alert rules)', () => {
      expect(mountOf('prometheus', '/etc/prometheus')).toBe('./infra/prometheus')
      expect(compose.services.prometheus?.command).toContain('--config.file=/etc/prometheus/prometheus.yml')
      expect(published('prometheus')).toContain('9090:9090')
    })

    it('provisions Grafana with that Prometheus and the dashboards of infra/grafana', () => {
      expect(mountOf('grafana', '/etc/grafana/provisioning')).toBe('./infra/grafana/provisioning')
      const dashboards = mountOf('grafana', '/etc/grafana/dashboards')
      expect(dashboards).toBe('./infra/grafana/dashboards')
      const { datasources } = yaml('infra/grafana/provisioning/datasources/prometheus.yml') as {
        datasources: { url: string }[]
      }
      expect(datasources.map((d) => d.url)).toEqual(['http://prometheus:9090'])
      const { providers } = yaml('infra/grafana/provisioning/dashboards/platform.yml') as {
        providers: { options: { path: string } }[]
      }
      expect(providers.map((p) => p.options.path)).toEqual(['/etc/grafana/dashboards'])
      const home = compose.services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? ''
      expect(existsSync(file(home.replace('/etc/grafana/dashboards', 'infra/grafana/dashboards')))).toBe(true)
    })

    it('runs an OpenTelemetry Collector receiving OTLP/HTTP on 4318 and exporting the traces to Jaeger', () => {
      const command = compose.services['otel-collector']?.command ?? []
      const config = command.find((c) => c.startsWith('--config='))?.slice('--config='.length) ?? ''
      expect(mountOf('otel-collector', config)).toBe('./infra/otel/collector.yaml')
      expect(published('otel-collector')).toContain('4318:4318')
      const collector = yaml('infra/otel/collector.yaml') as {
        receivers: { otlp: { protocols: { http: { endpoint: string } } } }
        exporters: Record<string, { endpoint: string }>
        service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } }
      }
      expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318')
      const { traces } = collector.service.pipelines
      expect(traces.receivers).toEqual(['otlp'])
      expect(traces.exporters.map((e) => collector.exporters[e]?.endpoint)).toEqual(['jaeger:4317'])
      expect(compose.services.jaeger?.environment?.COLLECTOR_OTLP_ENABLED).toBe('true')
      expect(published('jaeger')).toContain('16686:16686')
    })
  })

  // The feed's fan-out worker: the feed's image and configuration, its own process (npm start runs it beside the
  // API too, infra/scripts/run-all.ts); its probes on FEED_WORKER_PORT, not the API's PORT.
  it('runs the feed worker from the compiled services/feed/src/worker.ts, its health check on its own port', () => {
    const worker = compose.services['feed-worker']
    expect(existsSync(file('services/feed/src/worker.ts'))).toBe(true)
    // with the feed's Node flags (package.json platform.nodeArgs), as run-all gives its worker
    const feedArgs = (json('services/feed/package.json').platform?.nodeArgs ?? []) as string[]
    expect(worker?.command).toEqual(['node', ...feedArgs, 'services/feed/dist/worker.js'])
    expect(worker?.environment?.FEED_WORKER_PORT).toBe('3006')
    expect(worker?.healthcheck?.test?.join(' ')).toContain("process.env.FEED_WORKER_PORT + '/health/ready'")
  })
})
