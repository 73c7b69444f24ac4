/**
 * The seed's progress line: on a terminal one line rewritten in place (`\r`), elsewhere (CI, a log file) a line
 * every few seconds and one when each table is done, so a log stays short and still shows the run moving.
 */
export interface Progress {
  phase(name: string): void
  rows(table: string, sent: number, total: number): void
  done(table: string, rows: number): void
  /** A step without rows (an index build): its time since the last one. */
  step(name: string): void
  log(line: string): void
}

const fmt = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : String(Math.round(n))
const clock = (ms: number) => {
  const s = Math.floor(ms / 1000)
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

export function createProgress(
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr,
  startedAt = Date.now(),
): Progress {
  const tty = out.isTTY === true
  let tableStart = Date.now()
  let lastLine = 0
  let open = false
  const line = (text: string, final: boolean) => {
    const stamped = `[seed ${clock(Date.now() - startedAt)}] ${text}`
    if (tty) {
      out.write(`\r\x1b[2K${stamped}${final ? '\n' : ''}`)
      open = !final
    } else {
      out.write(`${stamped}\n`)
    }
  }
  const endOpen = () => {
    if (open) out.write('\n')
    open = false
  }
  return {
    phase(name) {
      endOpen()
      tableStart = Date.now()
      line(name, true)
    },
    rows(table, sent, total) {
      const now = Date.now()
      if (!tty && now - lastLine < 5000) return
      if (tty && now - lastLine < 200) return
      lastLine = now
      const rate = sent / Math.max(0.001, (now - tableStart) / 1000)
      const share = total > 0 ? ` (${Math.floor((sent / total) * 100)}%)` : ''
      line(`${table}: ${fmt(sent)} / ${fmt(total)} rows${share}, ${fmt(rate)} rows/s`, false)
    },
    done(table, rows) {
      const seconds = (Date.now() - tableStart) / 1000
      endOpen()
      line(`${table}: ${rows} rows in ${seconds.toFixed(1)} s (${fmt(rows / Math.max(seconds, 0.001))} rows/s)`, true)
      tableStart = Date.now()
    },
    step(name) {
      endOpen()
      line(`${name} in ${((Date.now() - tableStart) / 1000).toFixed(1)} s`, true)
      tableStart = Date.now()
    },
    log(text) {
      endOpen()
      line(text, true)
      // what follows a message (the first table after the graph's summary) is timed from here
      tableStart = Date.now()
    },
  }
}

/** A Progress that prints nothing (tests). */
export const silentProgress: Progress = { phase() {}, rows() {}, done() {}, step() {}, log() {} }
