/**
 * The baseline of the ingest benchmark: a bare Fastify route that parses the same JSON body and answers 200, with
 * no signature, no database and no broker. Fastify is taken from the ingest service's dependencies, so this
 * measures the same Fastify version. PORT=0 picks a free port; the line "bare listening on <url>" says which.
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const require = createRequire(new URL('../../services/ingest/package.json', import.meta.url))
interface Minimal {
  post(path: string, handler: (request: { body: unknown }) => Promise<unknown>): void
  listen(options: { port: number; host: string }): Promise<string>
}
const { default: Fastify } = (await import(pathToFileURL(require.resolve('fastify')).href)) as {
  default: (options: object) => Minimal
}

const app = Fastify({ logger: false, bodyLimit: 1_048_576 })
app.post('/v1/webhooks/:source', async (request) => {
  const body = request.body as { id?: string }
  return { id: body.id, status: 'queued' }
})
const url = await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' })
process.stdout.write(`bare listening on ${url}\n`)
