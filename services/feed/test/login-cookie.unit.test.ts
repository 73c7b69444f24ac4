import { describe, expect, it } from 'vitest'
import { loginCookie } from '../src/auth/login-routes.js'

describe('the login cookie', () => {
  it('is __Host-feed_login, Secure and Path=/ behind an https public URL', () => {
    const cookie = loginCookie('https://feed.example.com', 600)
    expect(cookie.name).toBe('__Host-feed_login')
    expect(cookie.header('v')).toBe('__Host-feed_login=v; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure')
  })

  it('is feed_login scoped to /v1/auth/ on plain http (local development)', () => {
    const cookie = loginCookie('http://127.0.0.1:3002', 600)
    expect(cookie.name).toBe('feed_login')
    expect(cookie.header('v')).toBe('feed_login=v; Path=/v1/auth/; Max-Age=600; HttpOnly; SameSite=Lax')
  })
})
