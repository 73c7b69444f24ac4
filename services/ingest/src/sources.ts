import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, type Static, Type } from '@platform/config'
import type { WebhookFormat } from '@platform/contracts'
import Value from 'typebox/value'

/**
 * Webhook sources are configuration, not code: a JSON file named by WEBHOOK_SOURCES_FILE, validated at start.
 * A bad file stops the service with one line naming the file, the JSON pointer and the problem (never a value:
 * the file holds secrets). Shape and meaning: docs/webhooks.md#sources.
 */
export const DEFAULT_SOURCES_FILE = fileURLToPath(new URL('../../../infra/webhook-sources.json', import.meta.url))

export const SignatureScheme = Type.Union([Type.Literal('stripe'), Type.Literal('standard'), Type.Literal('github')])
export type SignatureScheme = Static<typeof SignatureScheme>

export const SourceSchema = Type.Object({
  /** The path segment: POST /v1/webhooks/<name>. */
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }),
  scheme: SignatureScheme,
  /** Every secret is accepted, so a provider's secret can be rotated without a window of rejected deliveries. */
  secrets: Type.Array(Type.String({ minLength: 8 }), { minItems: 1 }),
  /** How far a signed timestamp may lie in the past or the future (stripe, standard). */
  toleranceSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  /** Bearer token for GET /v1/webhooks/<name>[/<eventId>]. */
  readToken: Type.String({ minLength: 16 }),
  rateLimit: Type.Object(
    { max: Type.Integer({ minimum: 1 }), timeWindowMs: Type.Integer({ minimum: 1 }) },
    { default: { max: 1000, timeWindowMs: 1000 } },
  ),
})

export const SourcesFileSchema = Type.Object({ sources: Type.Array(SourceSchema, { minItems: 1 }) })

export type SourceConfig = Static<typeof SourceSchema> & { format: WebhookFormat }

/** The body shape follows the scheme: Stripe events, Standard Webhooks envelopes, GitHub deliveries. */
const FORMAT_OF: Record<SignatureScheme, WebhookFormat> = { stripe: 'stripe', standard: 'envelope', github: 'github' }

const problem = (file: string, message: string) =>
  new ConfigError([{ variable: 'WEBHOOK_SOURCES_FILE', message: `${file}: ${message}` }])

/** Parses and checks a sources document; `file` only names it in errors. */
export function parseSources(text: string, file: string): Map<string, SourceConfig> {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw problem(file, `is not valid JSON (${(error as Error).message})`)
  }
  const value = Value.Default(SourcesFileSchema, raw)
  if (!Value.Check(SourcesFileSchema, value)) {
    const [first] = Value.Errors(SourcesFileSchema, value)
    throw problem(file, `${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`)
  }
  const sources = new Map<string, SourceConfig>()
  value.sources.forEach((source, index) => {
    if (sources.has(source.name)) throw problem(file, `/sources/${index}/name "${source.name}" appears twice`)
    if (source.scheme === 'standard') {
      source.secrets.forEach((secret, i) => {
        // Standard Webhooks: "whsec_" + base64 of 24 to 64 random bytes.
        const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.alloc(0)
        if (key.length < 24 || key.length > 64) {
          throw problem(file, `/sources/${index}/secrets/${i} must be "whsec_" + base64 of 24 to 64 bytes`)
        }
      })
    }
    sources.set(source.name, { ...source, format: FORMAT_OF[source.scheme] })
  })
  return sources
}

/** Reads the file (relative paths from the working directory); a missing file is a configuration problem too. */
export function loadSources(file = DEFAULT_SOURCES_FILE): Map<string, SourceConfig> {
  const path = resolve(file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw problem(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
  }
  return parseSources(text, path)
}
