import { once } from 'node:events'
import type { Tx } from '@platform/db'

/**
 * COPY ... FROM STDIN in PostgreSQL's text format (https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.2):
 * one line per row, columns separated by tabs, `\N` for null. The seed writes only values it made (ids, numbers,
 * timestamps, handles and texts without tabs, newlines or backslashes), so nothing needs escaping; `field` checks
 * that for text it did not make itself.
 */
export const NULL = '\\N'

export function field(text: string): string {
  if (/[\t\n\r\\]/.test(text)) throw new Error(`a COPY field with a tab, newline or backslash: ${JSON.stringify(text)}`)
  return text
}

export const iso = (ms: number) => new Date(ms).toISOString()

/** Lines are sent in chunks of about this many characters: one socket write per chunk, not per row. */
const CHUNK = 256 * 1024

/**
 * Streams `rows` (lines without their newline) into `table` through COPY on the transaction's connection (postgres.js
 * `.writable()`), waiting for the socket to drain when it is full. Calls `onRows` with the rows sent so far about
 * every chunk. Returns how many rows were sent.
 */
export async function copyRows(
  tx: Tx,
  table: string,
  columns: readonly string[],
  rows: Iterable<string>,
  onRows: (sent: number) => void = () => {},
): Promise<number> {
  const stream = await tx.unsafe(`copy ${table} (${columns.join(', ')}) from stdin`).writable()
  let chunk = ''
  let sent = 0
  const flush = async () => {
    if (!stream.write(chunk)) await once(stream, 'drain')
    chunk = ''
    onRows(sent)
  }
  for (const row of rows) {
    chunk += `${row}\n`
    sent++
    if (chunk.length >= CHUNK) await flush()
  }
  if (chunk.length > 0) await flush()
  stream.end()
  await once(stream, 'finish')
  return sent
}
