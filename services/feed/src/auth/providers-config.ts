import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, type Static, Type, Value } from '@platform/config'

/**
 * The identity providers people log in with (docs/feed.md#login) are configuration: a JSON document, from the
 * variable FEED_AUTH_PROVIDERS when it is set, else from the file FEED_AUTH_PROVIDERS_FILE names (by default the
 * checked-in development file, whose only provider is the development IdP). Checked once at start: a bad entry stops
 * the service with one line naming the document, the entry and the problem, never a secret.
 *
 * Client secrets should come from the environment: `clientSecretEnv` names the variable that holds one. Production
 * (NODE_ENV=production) refuses an inline `clientSecret`, the development IdP, and provider URLs that are not https.
 */
export const DEFAULT_PROVIDERS_FILE = fileURLToPath(
  new URL('../../../../infra/feed-auth-providers.json', import.meta.url),
)

/** The path segment of /v1/auth/<name>/login, and the `provider` of the identities it creates: never rename one. */
const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,31}$' })
const Url = Type.String({ minLength: 1, maxLength: 2048 })
const Secret = Type.String({ minLength: 1 })
const EnvName = Type.String({ pattern: '^[A-Z_][A-Z0-9_]*$' })
const Scopes = Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), { minItems: 1, maxItems: 32 })

const common = {
  name: Name,
  /** Shown to people ("Google", "GitHub"); defaults to the name. */
  label: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  clientId: Type.String({ minLength: 1, maxLength: 512 }),
  clientSecret: Type.Optional(Secret),
  clientSecretEnv: Type.Optional(EnvName),
}

/** Any OpenID Connect provider, by its issuer URL (discovery: <issuer>/.well-known/openid-configuration). */
export const OidcProviderSchema = Type.Object(
  {
    ...common,
    kind: Type.Literal('oidc'),
    issuer: Url,
    scopes: Type.Optional(Scopes),
    /** The development IdP (src/dev-idp): any login is accepted, so production refuses an entry that says so. */
    development: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)

/** GitHub's OAuth apps (OAuth 2.0, not OIDC); the URLs are settable so tests point them at a local stand-in. */
export const GithubProviderSchema = Type.Object(
  {
    ...common,
    kind: Type.Literal('github'),
    scopes: Type.Optional(Scopes),
    authorizeUrl: Type.Optional(Url),
    tokenUrl: Type.Optional(Url),
    apiBaseUrl: Type.Optional(Url),
  },
  { additionalProperties: false },
)

export interface OidcProviderConfig {
  kind: 'oidc'
  name: string
  label: string
  clientId: string
  clientSecret: string
  issuer: URL
  scopes: string[]
  development: boolean
}

export interface GithubProviderConfig {
  kind: 'github'
  name: string
  label: string
  clientId: string
  clientSecret: string
  scopes: string[]
  authorizeUrl: URL
  tokenUrl: URL
  apiBaseUrl: URL
}

export type ProviderConfig = OidcProviderConfig | GithubProviderConfig

export const GITHUB_DEFAULTS = {
  authorizeUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  apiBaseUrl: 'https://api.github.com',
  // read:user for the profile, user:email for a verified primary address (GET /user/emails)
  scopes: ['read:user', 'user:email'],
}
export const OIDC_DEFAULT_SCOPES = ['openid', 'profile', 'email']

const SCHEMAS = { oidc: OidcProviderSchema, github: GithubProviderSchema } as const

export interface ProvidersSource {
  /** The variable the error names: FEED_AUTH_PROVIDERS (inline JSON) or FEED_AUTH_PROVIDERS_FILE. */
  variable: string
  /** Where the document came from, as the error shows it (a path, or "inline JSON"). */
  origin: string
}

export interface ProvidersOptions {
  /** Where `clientSecretEnv` variables are read. */
  env: NodeJS.ProcessEnv
  production: boolean
  /** Replaces the issuer of the `development` entry (npm start moves the development IdP with its ports). */
  devIdpUrl?: string | undefined
}

/** Parses and checks a providers document; by name, in the document's order. */
export function parseProviders(
  text: string,
  source: ProvidersSource,
  options: ProvidersOptions,
): Map<string, ProviderConfig> {
  const problem = (message: string) =>
    new ConfigError([{ variable: source.variable, message: `${source.origin}: ${message}` }])
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw problem(`is not valid JSON (${(error as Error).message})`)
  }
  const list = (raw as { providers?: unknown } | null)?.providers
  if (!Array.isArray(list) || list.length === 0) throw problem('/providers must be a list of at least one provider')
  const providers = new Map<string, ProviderConfig>()
  list.forEach((entry, index) => {
    const named = (entry as { name?: unknown } | null)?.name
    const where = `/providers/${index}${typeof named === 'string' ? ` ("${named.slice(0, 40)}")` : ''}`
    const fail = (message: string) => problem(`${where}${message}`)
    const kind = (entry as { kind?: unknown } | null)?.kind
    if (kind !== 'oidc' && kind !== 'github') throw fail('/kind must be "oidc" or "github"')
    const schema = SCHEMAS[kind]
    if (!Value.Check(schema, entry)) {
      const [first] = Value.Errors(schema, entry)
      const unknown = first?.schemaPath.endsWith('/additionalProperties')
      throw fail(
        `${first?.instancePath ?? ''} ${unknown ? 'is not a member of this kind' : (first?.message ?? 'is invalid')}`,
      )
    }
    const config = checkEntry(entry as Static<(typeof SCHEMAS)[typeof kind]>, fail, options)
    if (providers.has(config.name)) throw fail(`/name "${config.name}" appears twice`)
    providers.set(config.name, config)
  })
  return providers
}

function checkEntry(
  entry: Static<typeof OidcProviderSchema> | Static<typeof GithubProviderSchema>,
  fail: (message: string) => ConfigError,
  options: ProvidersOptions,
): ProviderConfig {
  const url = (member: string, value: string): URL => {
    let parsed: URL
    try {
      parsed = new URL(value)
    } catch {
      throw fail(`/${member} is not an absolute URL`)
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw fail(`/${member} must be an https URL`)
    if (options.production && parsed.protocol !== 'https:') throw fail(`/${member} must be https in production`)
    if (parsed.username || parsed.password || parsed.hash) throw fail(`/${member} must hold no credentials or fragment`)
    return parsed
  }
  if (entry.kind === 'oidc' && entry.development === true && options.production) {
    throw fail(' is the development identity provider (any login is accepted): production must name real providers')
  }
  const clientSecret = secretOf(entry, fail, options)
  const label = entry.label ?? entry.name
  if (entry.kind === 'oidc') {
    const development = entry.development === true
    const scopes = entry.scopes ?? OIDC_DEFAULT_SCOPES
    if (!scopes.includes('openid')) throw fail('/scopes must include "openid"')
    const issuer = url('issuer', development && options.devIdpUrl ? options.devIdpUrl : entry.issuer)
    return {
      kind: 'oidc',
      name: entry.name,
      label,
      clientId: entry.clientId,
      clientSecret,
      issuer,
      scopes,
      development,
    }
  }
  return {
    kind: 'github',
    name: entry.name,
    label,
    clientId: entry.clientId,
    clientSecret,
    scopes: entry.scopes ?? GITHUB_DEFAULTS.scopes,
    authorizeUrl: url('authorizeUrl', entry.authorizeUrl ?? GITHUB_DEFAULTS.authorizeUrl),
    tokenUrl: url('tokenUrl', entry.tokenUrl ?? GITHUB_DEFAULTS.tokenUrl),
    apiBaseUrl: url('apiBaseUrl', entry.apiBaseUrl ?? GITHUB_DEFAULTS.apiBaseUrl),
  }
}

/** Exactly one of clientSecret and clientSecretEnv; the variable must be set. Never echoes a value. */
function secretOf(
  entry: { clientSecret?: string | undefined; clientSecretEnv?: string | undefined },
  fail: (message: string) => ConfigError,
  options: ProvidersOptions,
): string {
  if (entry.clientSecret !== undefined && entry.clientSecretEnv !== undefined) {
    throw fail(' has both clientSecret and clientSecretEnv: keep one')
  }
  if (entry.clientSecretEnv !== undefined) {
    const value = options.env[entry.clientSecretEnv]
    if (value === undefined || value === '')
      throw fail(`/clientSecretEnv: the variable ${entry.clientSecretEnv} is not set`)
    return value
  }
  if (entry.clientSecret === undefined) throw fail(' needs clientSecretEnv (the variable holding the client secret)')
  if (options.production) {
    throw fail('/clientSecret is refused in production: put the secret in a variable and name it in clientSecretEnv')
  }
  return entry.clientSecret
}

/** FEED_AUTH_PROVIDERS (inline JSON) when set, else the file; a file that cannot be read is a configuration problem. */
export function loadProviders(
  config: { FEED_AUTH_PROVIDERS?: string | undefined; FEED_AUTH_PROVIDERS_FILE: string },
  options: ProvidersOptions,
): Map<string, ProviderConfig> {
  if (config.FEED_AUTH_PROVIDERS !== undefined && config.FEED_AUTH_PROVIDERS !== '') {
    return parseProviders(
      config.FEED_AUTH_PROVIDERS,
      { variable: 'FEED_AUTH_PROVIDERS', origin: 'inline JSON' },
      options,
    )
  }
  const path = resolve(config.FEED_AUTH_PROVIDERS_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message
    throw new ConfigError([{ variable: 'FEED_AUTH_PROVIDERS_FILE', message: `${path}: cannot be read (${code})` }])
  }
  return parseProviders(text, { variable: 'FEED_AUTH_PROVIDERS_FILE', origin: path }, options)
}
