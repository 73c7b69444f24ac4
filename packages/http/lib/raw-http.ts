import { connect, type Socket } from 'node:net'

/**
 * A bare HTTP/1.1 client over node:net, for tests that must send what an HTTP client would refuse or normalise:
 * malformed request lines, headers and chunk sizes, NUL in a path, CONNECT, headers sent a byte at a time. Imported
 * through `@platform/http/testing`.
 */
export interface RawResponse {
  /** 0 when the server closed the connection without an answer. */
  statusCode: number
  headers: Record<string, string>
  body: string
  json(): unknown
  /** Milliseconds from the first byte sent to the answer (or the close). */
  elapsedMs: number
}

/** Splits one response off `data`, or undefined while it is incomplete (Content-Length bodies; else up to close). */
function parseResponse(data: Buffer, closed: boolean): Omit<RawResponse, 'elapsedMs'> | undefined {
  const end = data.indexOf('\r\n\r\n')
  if (end === -1) return closed ? empty() : undefined
  const [statusLine = '', ...lines] = data.subarray(0, end).toString('latin1').split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length'])
  const rest = data.subarray(end + 4)
  if (length === undefined ? !closed : rest.length < length) return undefined
  const body = rest.subarray(0, length ?? rest.length).toString('utf8')
  return { statusCode: Number(statusLine.split(' ')[1] ?? 0), headers, body, json: () => JSON.parse(body) }
}

const empty = () => ({ statusCode: 0, headers: {}, body: '', json: () => undefined })

export interface RawExchange {
  socket: Socket
  /** The first response, or statusCode 0 if the server closed first; rejects after `timeoutMs`. */
  response: Promise<RawResponse>
  /** Resolves with the milliseconds from connect to the server closing the connection. */
  closed: Promise<number>
}

/** Connects and writes `chunks` one after the other, `intervalMs` apart (0: all at once). */
export function rawExchange(
  port: number,
  chunks: (string | Buffer)[],
  options: { intervalMs?: number; timeoutMs?: number; host?: string } = {},
): RawExchange {
  const started = Date.now()
  const socket = connect({ port, host: options.host ?? '127.0.0.1' })
  socket.setNoDelay(true)
  let received = Buffer.alloc(0)
  let timer: NodeJS.Timeout | undefined
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)))
  const response = new Promise<RawResponse>((resolve, reject) => {
    const deadline = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer within ${options.timeoutMs ?? 5000} ms`))
    }, options.timeoutMs ?? 5000)
    const settle = (isClosed: boolean) => {
      const parsed = parseResponse(received, isClosed)
      if (!parsed) return
      clearTimeout(deadline)
      resolve({ ...parsed, elapsedMs: Date.now() - started })
    }
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      settle(false)
    })
    socket.once('close', () => {
      if (timer) clearInterval(timer)
      settle(true)
    })
  })
  // The server may close mid-write (that is what some tests wait for).
  socket.on('error', () => undefined)
  socket.once('connect', () => {
    if (!options.intervalMs) {
      for (const chunk of chunks) socket.write(chunk)
      return
    }
    let next = 0
    timer = setInterval(() => {
      if (next >= chunks.length || socket.destroyed) return clearInterval(timer)
      socket.write(chunks[next++] as string | Buffer)
    }, options.intervalMs)
  })
  return { socket, response, closed }
}

/** Sends `request` in one write and waits for the answer. */
export function rawRequest(port: number, request: string | Buffer, timeoutMs = 5000): Promise<RawResponse> {
  const exchange = rawExchange(port, [request], { timeoutMs })
  return exchange.response.finally(() => exchange.socket.destroy())
}
