import { type AddressInfo, connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { buildTestApp } from './helpers.js'

/** A raw HTTP/1.1 connection, to control exactly when each byte of a request arrives. */
function rawConnection(port: number) {
  const socket: Socket = connect({ port, host: '127.0.0.1' })
  let received = ''
  socket.on('data', (chunk) => {
    received += chunk.toString()
  })
  const closed = new Promise<string>((resolve, reject) => {
    socket.on('error', reject)
    socket.on('close', () => resolve(received))
  })
  return { write: (text: string) => socket.write(text), closed }
}

describe('graceful close', () => {
  it('finishes in-flight requests, answers later ones 503 problem+json, then runs onClose hooks', async () => {
    const { app } = await buildTestApp()
    const events: string[] = []
    app.get('/slow', async () => {
      await sleep(1500)
      events.push('slow answered')
      return { done: true }
    })
    // Hooks run last-registered-first: what a service adds later (consumers) stops before what it uses (broker).
    app.addHook('onClose', async () => {
      events.push('connections closed')
    })
    app.addHook('onClose', async () => {
      events.push('consumers stopped')
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port

    const inFlight = rawConnection(port)
    inFlight.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n')
    // A request whose headers are still arriving when shutdown begins: its connection is not idle, so it stays.
    const late = rawConnection(port)
    late.write('GET /health/ready HTTP/1.1\r\nHost: localhost\r\n')
    await sleep(300)
    const closed = app.close().then(() => events.push('app closed'))
    await sleep(50)
    late.write('\r\n')

    const lateResponse = await late.closed
    expect(lateResponse).toMatch(/^HTTP\/1\.1 503/)
    expect(lateResponse).toMatch(/content-type: application\/problem\+json/i)
    expect(lateResponse).toContain('"detail":"The service is shutting down."')

    const inFlightResponse = await inFlight.closed
    expect(inFlightResponse).toMatch(/^HTTP\/1\.1 200/)
    // Responses sent while closing end their keep-alive connection, so close() need not wait for the client.
    expect(inFlightResponse).toMatch(/connection: close/i)
    expect(inFlightResponse).toContain('{"done":true}')

    await closed
    expect(events).toEqual(['slow answered', 'consumers stopped', 'connections closed', 'app closed'])
  })
})
