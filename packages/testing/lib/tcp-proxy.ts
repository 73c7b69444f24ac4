import { type AddressInfo, connect, createServer, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a real service, for fault tests that must not stop the shared server other test files use.
 * - `cut()` closes every connection and closes each new one as soon as it is accepted: the service drops its
 *   clients (postgres.js keeps a query waiting and retries the connection until it stays up).
 * - `down()` closes every connection and stops listening, so new ones are refused (ECONNREFUSED): the service is not
 *   running (postgres.js fails a query at once).
 * - `blackhole()` keeps every connection open but moves no byte either way, and accepts new connections without
 *   answering: a network partition, which no server-side timeout and no TCP reset reveals to the client.
 * - `restore()` undoes any of them; after a black hole, the bytes held meanwhile flow on, as after a healed partition.
 */
export async function createTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>()
  const pairs = new Set<{ client: Socket; upstream: Socket | undefined }>()
  let refusing = false
  let holding = false

  function forward(pair: { client: Socket; upstream: Socket | undefined }) {
    const upstream = connect(target)
    pair.upstream = upstream
    sockets.add(upstream)
    upstream.on('error', () => drop(pair)).on('close', () => drop(pair))
    pair.client.pipe(upstream).pipe(pair.client)
    if (holding) hold(pair)
  }

  // unpipe as well as pause: a pipe's drain handler would resume a paused source.
  function hold(pair: { client: Socket; upstream: Socket | undefined }) {
    if (pair.upstream) {
      pair.client.unpipe(pair.upstream)
      pair.upstream.unpipe(pair.client)
      pair.upstream.pause()
    }
    pair.client.pause()
  }

  function drop(pair: { client: Socket; upstream: Socket | undefined }) {
    pair.client.destroy()
    pair.upstream?.destroy()
    sockets.delete(pair.client)
    if (pair.upstream) sockets.delete(pair.upstream)
    pairs.delete(pair)
  }

  const server = createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined }
    sockets.add(client)
    pairs.add(pair)
    client.on('error', () => drop(pair)).on('close', () => drop(pair))
    if (holding) client.pause()
    else forward(pair)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    /** Rewrites a URL's host and port to point through the proxy. */
    url(original: string) {
      const u = new URL(original)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    cut() {
      refusing = true
      for (const s of sockets) s.destroy()
      sockets.clear()
      pairs.clear()
    },
    /** close(), except that restore() listens again. */
    async down() {
      await this.close()
    },
    blackhole() {
      holding = true
      for (const pair of pairs) hold(pair)
    },
    /** Async for `down()`'s sake: it listens on the same port again. */
    async restore() {
      refusing = false
      if (!server.listening) await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
      if (!holding) return
      holding = false
      for (const pair of pairs) {
        if (pair.upstream) {
          pair.client.pipe(pair.upstream).pipe(pair.client)
        } else {
          forward(pair)
          pair.client.resume()
        }
      }
    },
    async close() {
      this.cut()
      if (!server.listening) return
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export type TcpProxy = Awaited<ReturnType<typeof createTcpProxy>>
