import type { FastifyInstance } from 'fastify'
import { ProblemError } from './errors.js'
import { problemTypes } from './problem-types.js'

/**
 * JSON that parses but cannot be kept: PostgreSQL's jsonb (and text) refuse the escapes `\u0000` and lone UTF-16
 * surrogates (`"\ud800"`), and very deep nesting costs stack in every consumer (jsonb's own parser gives up with
 * "stack depth limit exceeded"). Each used to reach the INSERT and come back as a 503 "retry later", which a sender
 * retries forever. Checked here, before JSON.parse, so such a body is a 400 that says what is wrong.
 *
 * No webhook or API body of this platform nests anywhere near this deep (a Stripe event: 5 levels); the stored
 * message wraps a payload in a few more levels, still far below what jsonb accepts (docs/api-errors.md).
 */
export const MAX_JSON_DEPTH = 128

const BACKSLASH = 0x5c
const QUOTE = 0x22
const LOWER_U = 0x75

/** The code unit of the 4 hex digits at `at`, or -1 when they are not hex (JSON.parse rejects that later). */
function hex4(text: string, at: number): number {
  if (at + 4 > text.length) return -1
  const digits = text.slice(at, at + 4)
  return /^[0-9a-fA-F]{4}$/.test(digits) ? Number.parseInt(digits, 16) : -1
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff

/**
 * One pass over the JSON text, outside strings counting brackets, inside strings reading only `\u` escapes; it
 * does not validate the syntax (JSON.parse does). Returns the problem, or undefined for a text that may be parsed.
 * Raw (unescaped) control characters and surrogates need no check: JSON.parse refuses the former, and text decoded
 * from UTF-8 holds no lone surrogate.
 */
export function jsonTextProblem(text: string, maxDepth = MAX_JSON_DEPTH): ProblemError | undefined {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === QUOTE) inString = false
      else if (c === BACKSLASH) {
        if (text.charCodeAt(i + 1) !== LOWER_U) {
          i += 1 // \" \\ \n ...: the escaped character cannot end the string
          continue
        }
        const code = hex4(text, i + 2)
        if (code === 0) return invalidCharacters('\\u0000 (NUL)')
        if (isLow(code)) return invalidCharacters(`a lone surrogate \\u${code.toString(16)}`)
        if (isHigh(code)) {
          const pair = text.charCodeAt(i + 6) === BACKSLASH && text.charCodeAt(i + 7) === LOWER_U
          if (!pair || !isLow(hex4(text, i + 8))) return invalidCharacters(`a lone surrogate \\u${code.toString(16)}`)
          i += 11
          continue
        }
        i += 5
      }
    } else if (c === QUOTE) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) {
        return new ProblemError(problemTypes.jsonTooDeep, {
          code: 'HTTP_JSON_TOO_DEEP',
          detail: `Objects and arrays may be nested at most ${maxDepth} levels deep.`,
        })
      }
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return undefined
}

const invalidCharacters = (what: string) =>
  new ProblemError(problemTypes.invalidCharacters, {
    code: 'HTTP_JSON_INVALID_CHARACTERS',
    detail: `A JSON string holds ${what}, which cannot be stored.`,
  })

/** JSON.parse behind the guard: throws a 400 ProblemError (invalid-json, json-too-deep, invalid-characters). */
export function parseJsonText(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  const problem = jsonTextProblem(text, maxDepth)
  if (problem) throw problem
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ProblemError(problemTypes.invalidJson, {
      code: 'FST_ERR_CTP_INVALID_JSON_BODY',
      detail: 'The request body is not valid JSON.',
      cause: error,
    })
  }
}

/**
 * Replaces Fastify's application/json parser with one that runs the guard first, then Fastify's own parser (which
 * refuses `__proto__` and `constructor.prototype` keys, and answers an empty body with FST_ERR_CTP_EMPTY_JSON_BODY).
 */
export function registerJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string
    const problem = jsonTextProblem(text)
    if (problem) return done(problem, undefined)
    parse(request, text, done)
  })
}
