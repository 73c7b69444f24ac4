import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  decodeCursor,
  decodeTimeIdCursor,
  encodeCursor,
  encodeTimeIdCursor,
  jsonTextProblem,
  MAX_JSON_DEPTH,
  PROBLEM_TYPE_BASE,
  ProblemError,
  problemTypes,
} from '../index.js'

/** The pieces of the shared guards whose edges a request table would not reach. */
describe('jsonTextProblem', () => {
  const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`

  it.each([
    ['nesting of exactly MAX_JSON_DEPTH', nested(MAX_JSON_DEPTH)],
    ['brackets inside strings', `{"a": "${'['.repeat(1000)}"}`],
    ['a surrogate pair', '"\\ud83d\\ude00"'],
    ['an escaped backslash before u0000', '"\\\\u0000"'],
    ['an escaped quote before a bracket', `["\\"${'['.repeat(500)}"]`],
    ['non-zero escapes', '"\\u0001\\u00e9\\uffff"'],
  ])('lets %s through', (_name, text) => {
    expect(jsonTextProblem(text)).toBeUndefined()
    expect(() => JSON.parse(text)).not.toThrow()
  })

  it.each([
    ['nesting of MAX_JSON_DEPTH + 1', nested(MAX_JSON_DEPTH + 1), problemTypes.jsonTooDeep],
    ['an object nesting', '{"a":'.repeat(200), problemTypes.jsonTooDeep],
    ['\\u0000', '{"a": "\\u0000"}', problemTypes.invalidCharacters],
    ['a lone high surrogate at the end', '"\\ud800"', problemTypes.invalidCharacters],
    ['a high surrogate before a plain character', '"\\uD800x"', problemTypes.invalidCharacters],
    ['two high surrogates', '"\\ud800\\ud800"', problemTypes.invalidCharacters],
    ['a lone low surrogate', '"\\uDFFF"', problemTypes.invalidCharacters],
  ])('refuses %s', (_name, text, type) => {
    const problem = jsonTextProblem(text)
    expect(problem).toBeInstanceOf(ProblemError)
    expect(problem).toMatchObject({ status: 400, type: type.type, title: type.title })
  })
})

describe('time-id cursor', () => {
  it('decodes what it encodes', () => {
    const key = { at: new Date('2026-12-04T10:11:12.345Z'), id: randomUUID() }
    expect(decodeTimeIdCursor(encodeTimeIdCursor(key))).toEqual(key)
    const edges = [new Date('0001-01-01T00:00:00.000Z'), new Date('9999-12-31T23:59:59.999Z')]
    for (const at of edges) expect(decodeTimeIdCursor(encodeTimeIdCursor({ at, id: key.id })).at).toEqual(at)
  })

  it('is invalid-cursor for anything else', () => {
    const id = randomUUID()
    const raw = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    for (const cursor of [
      raw(['0000-06-01T00:00:00.000Z', id]),
      raw(['2026-12-04T10:11:12Z', id]),
      raw(['2026-12-04T10:11:12.345Z', id, 'extra']),
      raw(['2026-12-04T10:11:12.345Z', `${id}0`]),
      raw([null, id]),
      'A'.repeat(300),
      'a+b/c==',
    ]) {
      expect(() => decodeTimeIdCursor(cursor)).toThrow(
        expect.objectContaining({ status: 400, type: problemTypes.invalidCursor.type }),
      )
    }
  })
})

describe('general cursor', () => {
  it('hands the decoded array to the parser, and makes its refusal and every malformed cursor a 400', () => {
    const parse = (fields: readonly unknown[]) =>
      fields.length === 2 && typeof fields[0] === 'string' && Number.isSafeInteger(fields[1]) ? fields : undefined
    expect(decodeCursor(encodeCursor(['a', 7]), parse)).toEqual(['a', 7])
    for (const cursor of [encodeCursor(['a', 1.5]), encodeCursor(['a']), 'e30', '%%', 'A'.repeat(300), '']) {
      expect(() => decodeCursor(cursor, parse)).toThrow(
        expect.objectContaining({ status: 400, type: problemTypes.invalidCursor.type }),
      )
    }
  })
})

describe('problem types', () => {
  it('are unique URIs under one base, and a bare status gets its generic type', () => {
    const types = Object.values(problemTypes).map((t) => t.type)
    expect(new Set(types).size).toBe(types.length)
    for (const type of types) expect(type.startsWith(PROBLEM_TYPE_BASE)).toBe(true)
    expect(new ProblemError(404)).toMatchObject({ type: problemTypes.notFound.type, title: 'Not Found' })
    expect(new ProblemError(418)).toMatchObject({ type: 'about:blank', title: "I'm a Teapot" })
    expect(new ProblemError(problemTypes.invalidCursor, { detail: 'x' })).toMatchObject({
      status: 400,
      title: 'Invalid cursor',
      detail: 'x',
    })
  })
})
