import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createAccessTokens } from '../src/auth/access-tokens.js'
import { loadSigningKeys } from '../src/auth/signing-keys.js'
import { loadServiceConfig } from '../src/config.js'

/**
 * `npm run feed:keys` and scripts/sign-token.ts, run as the operator runs them: the printed set loads as
 * FEED_JWT_KEYS, --rotate puts a new key in front of the current ones, and a signed token verifies against the
 * same configuration (the service's verify).
 */
const run = promisify(execFile)
const script = (name: string) => fileURLToPath(new URL(`../scripts/${name}`, import.meta.url))
/** tsx resolves from the repository's root, where `npm run feed:keys` runs too. */
const root = fileURLToPath(new URL('../../../', import.meta.url))
const tsx = async (name: string, args: string[], env: Record<string, string> = {}) =>
  (
    await run(process.execPath, ['--import', 'tsx', script(name), ...args], {
      cwd: root,
      env: { ...process.env, ...env },
    })
  ).stdout

describe('feed scripts', () => {
  it('prints a JWK Set that loads, rotates it, and signs tokens the service verifies', async () => {
    const set = (await tsx('keys.ts', ['--kid', 'first'])).trim()
    const loaded = await loadSigningKeys({ algorithm: 'EdDSA', keys: set, production: true })
    expect(loaded.active.kid).toBe('first')

    // The rotation's steps: add (verifies only), promote (signs), drop the old one.
    const added = (await tsx('keys.ts', ['--add', '--kid', 'second'], { FEED_JWT_KEYS: set })).trim()
    const withNew = await loadSigningKeys({ algorithm: 'EdDSA', keys: added, production: true })
    expect([...withNew.byKid.keys()]).toEqual(['first', 'second'])
    const rotated = (await tsx('keys.ts', ['--promote', 'second'], { FEED_JWT_KEYS: added })).trim()
    const both = await loadSigningKeys({ algorithm: 'EdDSA', keys: rotated, production: true })
    expect([...both.byKid.keys()]).toEqual(['second', 'first'])
    expect(both.byKid.get('second')?.publicJwk).toEqual(withNew.byKid.get('second')?.publicJwk)
    const dropped = (await tsx('keys.ts', ['--drop', 'first'], { FEED_JWT_KEYS: rotated })).trim()
    expect(JSON.parse(dropped).keys.map((k: { kid: string }) => k.kid)).toEqual(['second'])

    const users = ['0190a5f2-0000-7000-8000-000000000001', '0190a5f2-0000-7000-8000-000000000002']
    const out = await tsx('sign-token.ts', [...users, '--ttl', '120'], { FEED_JWT_KEYS: rotated })
    const lines = out.trim().split('\n')
    expect(lines).toHaveLength(2)
    const config = loadServiceConfig({ FEED_JWT_KEYS: set })
    const verifier = createAccessTokens({
      keys: loaded,
      issuer: config.FEED_JWT_ISSUER,
      audience: config.FEED_JWT_AUDIENCE,
      ttlSeconds: 900,
    })
    // Signed by "second", which an instance still on the old set does not know.
    await expect(verifier.verify(lines[0] as string)).rejects.toThrow(/unknown kid/)
    const current = createAccessTokens({
      ...{ keys: both },
      issuer: config.FEED_JWT_ISSUER,
      audience: config.FEED_JWT_AUDIENCE,
      ttlSeconds: 900,
    })
    const claims = await Promise.all(lines.map((line) => current.verify(line)))
    expect(claims.map((c) => c.userId)).toEqual(users)
    expect(claims[0]?.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 121_000)
  }, 30_000)

  it('refuses to sign without FEED_JWT_KEYS', async () => {
    const failed = await tsx('sign-token.ts', ['0190a5f2-0000-7000-8000-000000000001'], { FEED_JWT_KEYS: '' }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    )
    expect(failed?.code).toBe(2)
    expect(failed?.stderr).toMatch(/FEED_JWT_KEYS is not set/)
  }, 30_000)
})
