import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { Type } from '@platform/config'
import type { ServiceApp } from '@platform/http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'

/**
 * The feed's small web client (docs/feed.md#web-client): GET / and its few files from services/feed/web/, plain
 * HTML, CSS and two vanilla JavaScript modules, no build step and nothing from another origin. The files are read
 * once at start into memory, so a request can never name a path on disk (no traversal to guard against).
 *
 * Every answer carries a strict Content-Security-Policy: scripts, styles and fetches only from this origin, no
 * inline script or style, no eval, and Trusted Types required, so the page cannot write HTML from strings (it builds
 * nodes with textContent). That matters because the page keeps its tokens in sessionStorage: an injected script
 * would read them. Avatars (https URLs from the providers) are the only other origin it loads.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' https:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ')

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  // The login lands on / with the tokens in the fragment; browsers never send a fragment, and no Referer at all.
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-frame-options': 'DENY',
  // Revalidated on every load (the ETag answers 304), so a deploy is picked up at once.
  'cache-control': 'no-cache',
}

const WEB_DIR = new URL('../../web/', import.meta.url)
const TAGS = ['web']

interface Asset {
  path: string
  file: string
  type: string
  summary: string
}

const ASSETS: Asset[] = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8', summary: 'The web client (HTML page)' },
  { path: '/web/app.js', file: 'app.js', type: 'text/javascript; charset=utf-8', summary: 'The web client’s UI' },
  { path: '/web/api.js', file: 'api.js', type: 'text/javascript; charset=utf-8', summary: 'The web client’s API' },
  { path: '/web/app.css', file: 'app.css', type: 'text/css; charset=utf-8', summary: 'The web client’s styles' },
  { path: '/web/icon.svg', file: 'icon.svg', type: 'image/svg+xml', summary: 'The web client’s icon' },
]

const ClientConfig = Type.Object(
  {
    providers: Type.Array(
      Type.Object({
        name: Type.String(),
        label: Type.String(),
        login_url: Type.String({ description: 'Where the page’s login button goes (GET /v1/auth/:provider/login)' }),
      }),
    ),
    redirect_uri: Type.String({ description: 'FEED_PUBLIC_URL/: where a login brings the tokens back' }),
  },
  { additionalProperties: false },
)

function etagOf(body: Buffer | string): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
}

/** 304 when the browser's copy is current (RFC 9110 §13.1.2), else the body; both with the security headers. */
function serve(request: FastifyRequest, reply: FastifyReply, body: Buffer | string, type: string, etag: string) {
  reply.headers(SECURITY_HEADERS).header('etag', etag)
  const match = request.headers['if-none-match']
  if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) return reply.code(304).send()
  return reply.type(type).send(body)
}

export async function registerWebClient(
  app: ServiceApp,
  config: Pick<Config, 'FEED_PUBLIC_URL' | 'authProviders'>,
): Promise<void> {
  for (const asset of ASSETS) {
    const body = readFileSync(new URL(asset.file, WEB_DIR))
    const etag = etagOf(body)
    app.get(
      asset.path,
      {
        schema: {
          summary: asset.summary,
          description: 'Part of the web client at / (docs/feed.md#web-client); not an API.',
          tags: TAGS,
          response: {
            200: { description: asset.file, content: { [asset.type]: { schema: { type: 'string' } } } },
            304: { description: 'Not modified (If-None-Match)', type: 'null' },
          },
        },
      },
      async (request, reply) => serve(request, reply, body, asset.type, etag),
    )
  }

  // What the page needs to start a login: the providers and the redirect_uri on the allow-list (config.ts).
  const redirectUri = `${config.FEED_PUBLIC_URL}/`
  const clientConfig = JSON.stringify({
    providers: [...config.authProviders.values()].map((provider) => ({
      name: provider.name,
      label: provider.label,
      login_url: `${config.FEED_PUBLIC_URL}/v1/auth/${provider.name}/login?${new URLSearchParams({
        redirect_uri: redirectUri,
      })}`,
    })),
    redirect_uri: redirectUri,
  })
  const configEtag = etagOf(clientConfig)
  app.get(
    '/web/config.json',
    {
      schema: {
        summary: 'The web client’s settings: the identity providers to log in with',
        description: 'Read by the web client at / (docs/feed.md#web-client).',
        tags: TAGS,
        response: { 200: ClientConfig, 304: { description: 'Not modified (If-None-Match)', type: 'null' } },
      },
    },
    async (request, reply) => serve(request, reply, clientConfig, 'application/json; charset=utf-8', configEtag),
  )
}
