import { ProblemError } from '@platform/http'
import { feedProblems } from '../problems.js'

/**
 * The text of a post (docs/feed.md#commands): what is stored, and what is refused with 422 invalid-post-text.
 *
 * 1. Unicode NFC (UAX #15): "é" typed as e + U+0301 and as U+00E9 are one text, stored and counted once. NFC, not
 *    NFKC: compatibility folding would rewrite what people meant (superscripts, full-width forms, ligatures).
 * 2. Line breaks become LF (CRLF and CR from some clients), then the text is trimmed of white space at both ends.
 * 3. 1 to MAX_POST_LENGTH characters, counted as code points (what PostgreSQL's char_length counts, and what the
 *    posts table checks): an emoji outside the BMP is one character, not two UTF-16 units. A flag or a family emoji
 *    (several code points) counts as several; counting grapheme clusters would make the limit depend on the Unicode
 *    version of the runtime.
 * 4. No control characters (Unicode general category Cc: U+0000-U+001F, U+007F-U+009F) except LF: they are
 *    invisible, break terminals and logs, and PostgreSQL text cannot hold NUL at all. (A JSON body escaping NUL or a
 *    lone surrogate is already a 400 invalid-characters, @platform/http json-guard.ts.)
 */
export const MAX_POST_LENGTH = 500

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's purpose.
const FORBIDDEN_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/u

const invalidText = (detail: string) =>
  new ProblemError(feedProblems.invalidPostText, {
    detail,
    code: 'FEED_INVALID_POST_TEXT',
    extensions: { errors: [{ in: 'body', pointer: '/text', message: detail }] },
  })

/** The text as stored, or a 422 ProblemError saying what is wrong with it. */
export function normalisePostText(raw: string): string {
  // NFC shrinks a text by at most a few code points per character (a Hangul syllable from 3 jamo): far longer than
  // this cannot become 500 characters, and is refused before normalising up to BODY_LIMIT_BYTES of it.
  if (raw.length > MAX_POST_LENGTH * 8) {
    throw invalidText(`The text has more than ${MAX_POST_LENGTH} characters; a post has at most ${MAX_POST_LENGTH}.`)
  }
  const text = raw.normalize('NFC').replace(/\r\n?/g, '\n').trim()
  const control = FORBIDDEN_CONTROL.exec(text)
  if (control) {
    const code = (control[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')
    throw invalidText(`The text holds the control character U+${code}; only line breaks are allowed.`)
  }
  let length = 0
  for (const _ of text) length++
  if (length === 0) throw invalidText('The text is empty.')
  if (length > MAX_POST_LENGTH) {
    throw invalidText(`The text has ${length} characters; a post has at most ${MAX_POST_LENGTH}.`)
  }
  return text
}
