import { Type } from '@platform/config'
import { gauge, type Registry, StalledError } from '@platform/metrics'
import type { FastifyInstance } from 'fastify'
import { HttpError, ProblemError } from './errors.js'
import { problemResponse } from './openapi.js'
import { sendProblem } from './problem-handler.js'

/**
 * A readiness check resolves when its dependency can serve this instance. Returning `false` or throwing
 * means "not ready". Checks answer within a deadline: a probe that hangs on a hanging database is no probe.
 */
export type ReadinessCheck = () => unknown | Promise<unknown>
export type ReadinessChecks = Record<string, ReadinessCheck>

/**
 * ok, or a short reason that names no host, query or credential: the body is served to anyone who asks.
 * `stalled`: a mechanism of this instance (group commit, outbox relay, a consumer) has work waiting and made no
 * progress for too long (a ProgressMonitor of @platform/metrics); its message goes into the body's `reasons`.
 */
export type CheckResult = 'ok' | 'timeout' | 'unavailable' | 'error' | 'stalled'

export const HEALTH_PATHS = ['/health/live', '/health/ready'] as const

export interface ReadinessReport {
  ready: boolean
  checks: Record<string, CheckResult>
  /** The underlying errors, for the log only. */
  errors: Record<string, unknown>
  /** Why a stalled check is stalled (our own words: no host, query or credential), served in the body. */
  reasons: Record<string, string>
}

export async function runReadinessChecks(checks: ReadinessChecks, timeoutMs: number): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => [name, await runCheck(name, check, timeoutMs)] as const),
  )
  const report: ReadinessReport = { ready: true, checks: {}, errors: {}, reasons: {} }
  for (const [name, outcome] of entries) {
    report.checks[name] = outcome.result
    if (outcome.result !== 'ok') {
      report.ready = false
      report.errors[name] = outcome.error
      if (outcome.error instanceof StalledError) report.reasons[name] = outcome.error.message
    }
  }
  return report
}

async function runCheck(
  name: string,
  check: ReadinessCheck,
  timeoutMs: number,
): Promise<{ result: CheckResult; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HttpError('HTTP_READINESS_TIMEOUT', `${name} did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  try {
    const value = await Promise.race([Promise.resolve().then(check), deadline])
    if (value === false)
      return { result: 'unavailable', error: new HttpError('HTTP_NOT_READY', `${name} is not connected`) }
    return { result: 'ok' }
  } catch (error) {
    if (error instanceof StalledError) return { result: 'stalled', error }
    return {
      result:
        (error instanceof HttpError && error.code === 'HTTP_READINESS_TIMEOUT') ||
        (error as { code?: unknown } | undefined)?.code === 'DB_DEADLINE'
          ? 'timeout'
          : 'error',
      error,
    }
  } finally {
    clearTimeout(timer)
  }
}

export interface HealthOptions {
  checks: ReadinessChecks
  timeoutMs: number
}

/**
 * Liveness says the process runs (restart it when this fails); readiness says it can serve now (route traffic
 * to it). Probe semantics: https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
 * Once shutdown has begun every route, readiness included, answers 503 (see buildServiceApp), so a load
 * balancer stops sending traffic before the server stops.
 */
const liveSchema = {
  summary: 'Liveness: the process runs',
  description: 'Restart the instance when this fails. Checks no dependency.',
  tags: ['health'],
  response: { 200: Type.Object({ status: Type.Literal('ok') }) },
}

const CheckResultSchema = Type.Union(
  (['ok', 'timeout', 'unavailable', 'error', 'stalled'] as const).map((result) => Type.Literal(result)),
)

const readySchema = {
  summary: 'Readiness: the instance can serve now',
  description:
    'Runs every readiness check (dependencies, progress watchdogs) in parallel, each within a deadline. 503 while ' +
    'one fails or once shutdown has begun: route traffic elsewhere.',
  tags: ['health'],
  response: {
    200: Type.Object({ status: Type.Literal('ok'), checks: Type.Record(Type.String(), CheckResultSchema) }),
    503: problemResponse(
      'Not ready: `checks` names each check and its result; `reasons` says why a stalled one is stalled.',
    ),
  },
}

export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const exempt = { rateLimit: false }
  app.get('/health/live', { config: exempt, schema: liveSchema }, async () => ({ status: 'ok' }))

  let lastState = ''
  app.get('/health/ready', { config: exempt, schema: readySchema }, async (request, reply) => {
    const report = await runReadinessChecks(options.checks, options.timeoutMs)
    const failed = Object.keys(report.errors)
    // Probes come every few seconds; the log says when the state changes, not once per probe.
    const state = failed.join(',')
    if (state !== lastState) {
      if (report.ready) request.log.info({ checks: report.checks }, 'ready')
      else {
        const errors = Object.fromEntries(failed.map((n) => [n, String(report.errors[n])]))
        request.log.warn({ checks: report.checks, errors }, 'not ready')
      }
      lastState = state
    }
    if (report.ready) return { status: 'ok', checks: report.checks }
    return sendProblem(
      reply,
      new ProblemError(503, {
        detail: `Not ready: ${failed.join(', ')} unavailable.`,
        code: 'HTTP_NOT_READY',
        extensions: {
          checks: report.checks,
          ...(Object.keys(report.reasons).length > 0 ? { reasons: report.reasons } : {}),
        },
      }),
    )
  })
}

/**
 * `readiness_check_ok{check}`: 1 when the check passes, 0 when /health/ready would report it, run at scrape time
 * with the probe's deadline. Prometheus cannot ask /health/ready itself (that takes a blackbox exporter), and a
 * "service not ready" alert must name the check (infra/prometheus/alerts.yml, ServiceNotReady). A scrape's collect
 * is bounded (COLLECT_TIMEOUT_MS), and every check here has its own deadline below that bound.
 */
export function registerReadinessMetric(registry: Registry, options: HealthOptions): void {
  gauge(
    registry,
    'readiness_check_ok',
    'Readiness checks at scrape time: 1 passes, 0 fails (what /health/ready reports)',
    ['check'],
    async function collect() {
      const report = await runReadinessChecks(options.checks, options.timeoutMs)
      for (const [check, result] of Object.entries(report.checks)) this.set({ check }, result === 'ok' ? 1 : 0)
    },
  )
}
