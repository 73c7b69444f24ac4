import { Type } from '@platform/config'
import { createLogger } from '@platform/logging'
import { createRegistry } from '@platform/metrics'
import { buildServiceApp, type ServiceApp, type ServiceAppOptions } from '../index.js'

export interface LogLine {
  level: string
  msg?: string
  correlationId?: string
  [key: string]: unknown
}

/** A logger writing JSON lines into an array, to assert what was (and was not) logged. */
export function captureLogger(service = 'test') {
  const lines: LogLine[] = []
  const raw: string[] = []
  const logger = createLogger({
    service,
    level: 'debug',
    destination: {
      write(line: string) {
        raw.push(line)
        lines.push(JSON.parse(line) as LogLine)
      },
    },
  })
  return { logger, lines, raw }
}

export const TEST_CONFIG = {
  BODY_LIMIT_BYTES: 1024,
  RATE_LIMIT_MAX: 1000,
  RATE_LIMIT_WINDOW_MS: 60_000,
  REDIS_PREFIX: 'unused:',
}

/** An app with the routes the tests of this package need, logging into `log.lines`. */
export async function buildTestApp(options: Partial<ServiceAppOptions> = {}) {
  const log = captureLogger()
  const app: ServiceApp = await buildServiceApp({
    service: 'test',
    config: TEST_CONFIG,
    logger: log.logger,
    registry: createRegistry(),
    rateLimit: false,
    ...options,
  })
  app.post(
    '/items',
    { schema: { body: Type.Object({ name: Type.String({ minLength: 1 }), count: Type.Integer({ minimum: 0 }) }) } },
    async (request, reply) => reply.code(201).send({ name: request.body.name }),
  )
  app.get('/items/:id', async (request) => ({ id: (request.params as { id: string }).id }))
  return { app, log }
}
