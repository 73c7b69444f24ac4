import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { startTsProcess } from '@platform/testing'
import { describe, expect, it } from 'vitest'
import { DEV_CLIENT_ID } from '../src/dev-idp/dev-idp.js'

/** The development IdP as `npm start` runs it: its own process, labelled as what it is, and never in production. */
const server = fileURLToPath(new URL('../src/dev-idp/server.ts', import.meta.url))

async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  return port
}

describe('the development identity provider process', () => {
  it('says in its log that any login is accepted, serves discovery for the feed’s client, and stops on SIGTERM', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`
    const idp = startTsProcess(server, { FEED_DEV_IDP_URL: issuer, FEED_PUBLIC_URL: 'http://127.0.0.1:3999' })
    await idp.waitForOutput(/dev-idp listening on/)
    const line = idp
      .output()
      .split('\n')
      .find((l) => l.includes('DEVELOPMENT identity provider'))
    expect(JSON.parse(line ?? '{}')).toMatchObject({
      level: 'warn',
      msg: 'DEVELOPMENT identity provider: any login is accepted (never use it in production)',
      issuer,
      client_id: DEV_CLIENT_ID,
      redirect_uri: 'http://127.0.0.1:3999/v1/auth/dev/callback',
    })
    const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string }
    expect(discovery.issuer).toBe(issuer)
    expect(await idp.kill('SIGTERM')).toBe(0)
  })

  it('refuses to start with NODE_ENV=production', async () => {
    const idp = startTsProcess(server, {
      NODE_ENV: 'production',
      FEED_DEV_IDP_URL: `http://127.0.0.1:${await freePort()}`,
    })
    expect(await idp.exited).toBe(1)
    expect(idp.output()).toMatch(/invalid configuration: NODE_ENV is production: the development identity provider/)
  })
})
