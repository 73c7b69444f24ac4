import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'

/**
 * GitHub as far as the feed's login talks to it (tests only), on a local port: the OAuth app's authorize page
 * (it "approves" at once, or declines when `deny` is set), the token endpoint (200 with
 * {"error":"bad_verification_code"} for a bad or used code, as GitHub does), GET /user and GET /user/emails.
 */
export interface GithubAccount {
  id: number
  login: string
  name: string | null
  avatar_url: string
  emails: { email: string; primary: boolean; verified: boolean }[]
}

export interface GithubStandIn {
  url: string
  clientId: string
  clientSecret: string
  /** The account the next authorization is for. */
  account: GithubAccount
  /** The next authorization is declined (error=access_denied). */
  deny: boolean
  /** The token endpoint answers this status (e.g. 503) instead of working. */
  tokenStatus?: number
  /** Calls seen, by route. */
  calls: Record<string, number>
  close(): Promise<void>
}

export async function startGithubStandIn(): Promise<GithubStandIn> {
  const app = Fastify()
  const codes = new Map<string, { account: GithubAccount; redirectUri: string }>()
  const tokens = new Map<string, GithubAccount>()
  const standIn: GithubStandIn = {
    url: '',
    clientId: 'gh-client-id',
    clientSecret: 'gh-client-secret-0123456789',
    account: { id: 1, login: 'octocat', name: 'The Octocat', avatar_url: 'https://avatars.example/1', emails: [] },
    deny: false,
    calls: {},
    close: () => app.close(),
  }
  const count = (route: string) => {
    standIn.calls[route] = (standIn.calls[route] ?? 0) + 1
  }
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_r, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )

  app.get('/login/oauth/authorize', async (request, reply) => {
    count('authorize')
    const q = request.query as Record<string, string>
    if (q.client_id !== standIn.clientId || !q.redirect_uri) return reply.code(400).send('bad client')
    const back = new URL(q.redirect_uri)
    if (q.state) back.searchParams.set('state', q.state)
    if (standIn.deny) {
      back.searchParams.set('error', 'access_denied')
      back.searchParams.set('error_description', 'The user has denied your application access.')
    } else {
      const code = randomBytes(10).toString('hex')
      codes.set(code, { account: standIn.account, redirectUri: q.redirect_uri })
      back.searchParams.set('code', code)
    }
    return reply.redirect(back.href, 302)
  })

  app.post('/login/oauth/access_token', async (request, reply) => {
    count('token')
    if (standIn.tokenStatus) return reply.code(standIn.tokenStatus).send('unavailable')
    const body = request.body as Record<string, string>
    if (body.client_id !== standIn.clientId || body.client_secret !== standIn.clientSecret) {
      return {
        error: 'incorrect_client_credentials',
        error_description: 'The client_id and/or client_secret are incorrect.',
      }
    }
    const grant = body.code ? codes.get(body.code) : undefined
    if (body.code) codes.delete(body.code)
    if (!grant || grant.redirectUri !== body.redirect_uri) {
      return { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' }
    }
    const token = `gho_${randomBytes(16).toString('hex')}`
    tokens.set(token, grant.account)
    return { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' }
  })

  const accountOf = (authorization: string | undefined) => tokens.get(authorization?.replace(/^Bearer /, '') ?? '')
  app.get('/user', async (request, reply) => {
    count('user')
    const account = accountOf(request.headers.authorization)
    if (!account || !request.headers['user-agent']) return reply.code(401).send({ message: 'Bad credentials' })
    const { emails: _emails, ...user } = account
    return user
  })
  app.get('/user/emails', async (request, reply) => {
    count('emails')
    const account = accountOf(request.headers.authorization)
    if (!account) return reply.code(401).send({ message: 'Bad credentials' })
    return account.emails
  })

  standIn.url = await app.listen({ port: 0, host: '127.0.0.1' })
  return standIn
}
