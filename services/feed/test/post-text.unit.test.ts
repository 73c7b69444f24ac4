import { ProblemError } from '@platform/http'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_POST_LENGTH, normalisePostText } from '../src/commands/post-text.js'

const refusal = (text: string) => {
  try {
    normalisePostText(text)
    return undefined
  } catch (error) {
    if (!(error instanceof ProblemError)) throw error
    return error
  }
}

describe('normalisePostText', () => {
  it('composes to NFC, turns CRLF and CR into LF, trims', () => {
    expect(normalisePostText('Cafe\u0301')).toBe('Caf\u00e9')
    expect(normalisePostText('\u1100\u1161\u11a8')).toBe('\uac01')
    expect(normalisePostText('a\r\nb\rc\nd')).toBe('a\nb\nc\nd')
    expect(normalisePostText(' \n hi \u3000')).toBe('hi')
    // NFC, not NFKC: compatibility forms stay as written
    expect(normalisePostText('x² ﬁ Ａ')).toBe('x² ﬁ Ａ')
  })

  it('counts code points after normalisation: 500 fit, 501 do not', () => {
    expect(normalisePostText('😀'.repeat(MAX_POST_LENGTH))).toHaveLength(2 * MAX_POST_LENGTH)
    expect(refusal('😀'.repeat(MAX_POST_LENGTH + 1))?.status).toBe(422)
    // 1000 code points before NFC, 500 after
    expect(normalisePostText('e\u0301'.repeat(MAX_POST_LENGTH))).toBe('é'.repeat(MAX_POST_LENGTH))
    expect(refusal('a'.repeat(MAX_POST_LENGTH + 1))?.detail).toBe(
      'The text has 501 characters; a post has at most 500.',
    )
  })

  it('refuses empty texts and every control character but LF', () => {
    expect(refusal('')?.detail).toBe('The text is empty.')
    expect(refusal(' \n ')?.detail).toBe('The text is empty.')
    for (let code = 0; code <= 0x9f; code++) {
      if (code > 0x1f && code < 0x7f) continue
      const problem = refusal(`a${String.fromCharCode(code)}b`)
      if (code === 0x0a || code === 0x0d) expect(problem).toBeUndefined()
      else expect(problem?.detail, `U+${code.toString(16)}`).toMatch(/control character U\+00[0-9A-F]{2}/)
    }
  })

  it('is idempotent and never returns more than 500 code points or a control character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 600 }), (raw) => {
        const problem = refusal(raw)
        if (problem) {
          expect(problem.status).toBe(422)
          return
        }
        const text = normalisePostText(raw)
        expect(normalisePostText(text)).toBe(text)
        expect([...text].length).toBeGreaterThanOrEqual(1)
        expect([...text].length).toBeLessThanOrEqual(MAX_POST_LENGTH)
        expect(text).toBe(text.normalize('NFC'))
      }),
    )
  })
})
