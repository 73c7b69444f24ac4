/**
 * amqplib cork benchmark (patches/amqplib@2.3.1.patch): publishing N messages with publisher confirms, through the
 * patched amqplib (its Mux corks the socket while it writes the frames of one pass, so they go out in one writev)
 * beside the pristine amqplib 2.3.1 (one socket write per frame), measured in the same run, rounds alternating after a
 * warm-up round each.
 * The pristine copy is built here: the installed package copied to a temp dir with the patch applied in reverse.
 * Messages are ~300-byte JSON bodies published WINDOW at a time, each window awaited with waitForConfirms (as the
 * outbox relay's publishBatch does), to a durable quorum queue (TARGET=unrouted: to no queue). Figures: messages/s, this process's CPU per message,
 * and socket writes (calls into the socket's _write/_writev) per message.
 *
 *   node --import tsx loadtest/amqplib-cork/bench.ts   (N=20000, WINDOW=500, ROUNDS=5, TARGET=queue|unrouted; ~20 s)
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createTestVhost } from '@platform/testing'

const N = Number(process.env.N ?? 20_000)
const WINDOW = Number(process.env.WINDOW ?? 500)
const ROUNDS = Number(process.env.ROUNDS ?? 5)
/** `queue`: a durable quorum queue (what the platform does); `unrouted`: amq.direct with no binding, so the broker
 * confirms without storing and the client's own cost shows. */
const TARGET = process.env.TARGET === 'unrouted' ? 'unrouted' : 'queue'

/** The part of amqplib's promise API used here (loadtest does not depend on amqplib, so not its types). */
interface Amqp {
  connect(url: string): Promise<{
    createConfirmChannel(): Promise<{
      assertQueue(queue: string, options: object): Promise<unknown>
      publish(exchange: string, key: string, content: Buffer, options: object): boolean
      waitForConfirms(): Promise<void>
      deleteQueue(queue: string): Promise<unknown>
    }>
    close(): Promise<void>
  }>
}
// The amqplib the platform runs (packages/messaging's, patched by pnpm); loadtest does not depend on it directly.
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '../../packages/messaging/package.json'))
const entry = require.resolve('amqplib')
const installed = dirname(entry)
const patch = fileURLToPath(new URL('../../patches/amqplib@2.3.1.patch', import.meta.url))

/** The installed amqplib with our patch taken out again: amqplib 2.3.1 as published (it has no dependencies). */
function pristineCopy(): { dir: string; amqp: Promise<Amqp> } {
  const dir = mkdtempSync(join(tmpdir(), 'amqplib-pristine-'))
  const pkg = join(dir, 'node_modules', 'amqplib')
  cpSync(installed, pkg, { recursive: true, dereference: true })
  execFileSync('git', ['apply', '-R', patch], { cwd: pkg })
  return { dir, amqp: import(pathToFileURL(join(pkg, 'channel_api.js')).href).then((m) => m.default as Amqp) }
}

interface Figures {
  perSecond: number
  cpuMicrosPerMessage: number
  writesPerMessage: number
}

async function round(amqp: Amqp, url: string, queue: string): Promise<Figures> {
  const connection = await amqp.connect(url)
  const socket = (connection as unknown as { connection: { stream: Record<string, (...a: unknown[]) => unknown> } })
    .connection.stream
  let writes = 0
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method]?.bind(socket)
    if (original)
      socket[method] = (...args: unknown[]) => {
        writes++
        return original(...args)
      }
  }
  const channel = await connection.createConfirmChannel()
  await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } })
  const body = (i: number) =>
    Buffer.from(JSON.stringify({ id: `evt_${i}`, source: 'payment', type: 'charge.succeeded', data: 'x'.repeat(200) }))
  const started = performance.now()
  const cpu = process.cpuUsage()
  for (let sent = 0; sent < N; sent += WINDOW) {
    for (let i = sent; i < Math.min(N, sent + WINDOW); i++) {
      const [exchange, key] = TARGET === 'queue' ? ['', queue] : ['amq.direct', 'nobody']
      channel.publish(exchange, key, body(i), { persistent: true, messageId: `m${i}`, type: 'bench.v1' })
    }
    await channel.waitForConfirms()
  }
  const used = process.cpuUsage(cpu)
  const seconds = (performance.now() - started) / 1000
  const figures = {
    perSecond: N / seconds,
    cpuMicrosPerMessage: (used.user + used.system) / N,
    writesPerMessage: writes / N,
  }
  await channel.deleteQueue(queue)
  await connection.close()
  return figures
}

const vhost = await createTestVhost('bench_cork')
const pristine = pristineCopy()
const variants: [string, Amqp][] = [
  ['patched (corked)', (await import(pathToFileURL(entry).href)).default as Amqp],
  ['pristine 2.3.1', await pristine.amqp],
]
const results = new Map<string, Figures[]>(variants.map(([name]) => [name, []]))
try {
  // A warm-up round each (JIT, the broker's first quorum queues), not counted.
  for (const [, amqp] of variants) await round(amqp, vhost.amqpUrl, 'bench.warmup')
  for (let r = 0; r < ROUNDS; r++) {
    // Alternating order, so neither variant always runs on a warmer broker.
    const order = r % 2 === 0 ? variants : [...variants].reverse()
    for (const [name, amqp] of order) results.get(name)?.push(await round(amqp, vhost.amqpUrl, `bench.${r}`))
  }
} finally {
  await vhost.delete()
  rmSync(pristine.dir, { recursive: true, force: true })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const target = TARGET === 'queue' ? 'a quorum queue' : 'amq.direct, unrouted'
console.log(`${N} messages to ${target}, ${WINDOW} per waitForConfirms, ${ROUNDS} alternating rounds (medians)`)
console.log('variant            msgs/s   CPU us/msg  socket writes/msg   (each round: msgs/s)')
for (const [name, runs] of results) {
  console.log(
    `${name.padEnd(17)} ${median(runs.map((f) => f.perSecond))
      .toFixed(0)
      .padStart(7)} ` +
      `${median(runs.map((f) => f.cpuMicrosPerMessage))
        .toFixed(1)
        .padStart(12)} ` +
      `${median(runs.map((f) => f.writesPerMessage))
        .toFixed(3)
        .padStart(19)}   ` +
      `(${runs.map((f) => f.perSecond.toFixed(0)).join(', ')})`,
  )
}
