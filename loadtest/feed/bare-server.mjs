/**
 * The baseline of the feed load tests: bare Fastify routes at the feed's paths answering a JSON body of the same
 * size as the feed's answer (measured by the bench on the seeded data), with no token check, no database and no
 * Redis: the HTTP ceiling of this machine for that body. Plain JavaScript, so the container variant runs it with
 * `node` in the platform's image as well (docker-compose.yml, service loadtest-bare). Fastify is the feed
 * service's own dependency, so the baseline measures the same Fastify version.
 *
 *   node loadtest/feed/bare-server.mjs   (PORT=0 picks a free port: the line "bare listening on <url>" says which;
 *   HOST=127.0.0.1; FEED_BYTES, HOT_BYTES, POST_BYTES, LIKE_BYTES: the body size of each route, default 8000,
 *   20000, 400, 100)
 */
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const require = createRequire(new URL('../../services/feed/package.json', import.meta.url))
const { default: Fastify } = await import(pathToFileURL(require.resolve('fastify')).href)

/** A JSON object whose serialised form is `bytes` long: `{"items":[],"pad":"xxx..."}`. */
function bodyOf(bytes) {
  const frame = JSON.stringify({ items: [], pad: '' }).length
  return JSON.stringify({ items: [], pad: 'x'.repeat(Math.max(0, bytes - frame)) })
}

const size = (name, fallback) => Number(process.env[name] ?? fallback)
const bodies = {
  feed: bodyOf(size('FEED_BYTES', 8000)),
  hot: bodyOf(size('HOT_BYTES', 20000)),
  post: bodyOf(size('POST_BYTES', 400)),
  like: bodyOf(size('LIKE_BYTES', 100)),
}

const app = Fastify({ logger: false })
const send =
  (body, status = 200) =>
  (_request, reply) => {
    reply.code(status).header('content-type', 'application/json; charset=utf-8').send(body)
  }
app.get('/v1/feed', send(bodies.feed))
app.get('/v1/feed/hot', send(bodies.hot))
app.post('/v1/posts', send(bodies.post, 201))
app.put('/v1/posts/:id/like', send(bodies.like))
app.get('/health/live', send('{"status":"ok"}'))
const url = await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' })
process.stdout.write(`bare listening on ${url}\n`)
