/**
 * The log-shipper as its own process for bench.ts, as in production where log-shipper is a service of its own
 * (services/log-shipper/test/fixtures/standalone-shipper.ts: the shipper and sink wired as the service wires them,
 * production defaults 10,000 rows / 1 s / 16 MiB, prefetch 20,000; no HTTP server). The benchmark migrates the
 * schemas beforehand.
 *
 * Env: DATABASE_URL, DB_SCHEMA, AMQP_URL, CLICKHOUSE_URL, CLICKHOUSE_DATABASE. Prints (times in ms since the epoch,
 * performance.timeOrigin + performance.now(), which the benchmark's process reads from the same clock):
 *   starting <time>                        just before it starts consuming, then `ready`;
 *   accepted <time> <id>:<rows> ...        after each insert ClickHouse accepted, one entry per part of the batch:
 *                                          a rows message's first event id (an indexOf in its bytes, no parse) and
 *                                          its row count, or one event's id and 1.
 * SIGTERM: stops the shipper (shipping what it holds), then exits.
 */
import type { SinkPart } from '../../services/log-shipper/src/sink.js'
import { runStandaloneShipper } from '../../services/log-shipper/test/fixtures/standalone-shipper.js'

const now = () => performance.timeOrigin + performance.now()
const EVENT_ID = Buffer.from('"event_id":"')

/** The first event id of a part: producers write event_id first, so the indexOf stops within the first row. */
function firstId(part: SinkPart): string {
  if ('row' in part) return part.row.event_id
  const at = part.json.indexOf(EVENT_ID)
  return at < 0 ? '?' : part.json.toString('latin1', at + EVENT_ID.length, at + EVENT_ID.length + 36)
}

process.stdout.write(`starting ${now()}\n`)
await runStandaloneShipper({
  name: 'bench-shipper',
  afterInsert(batch) {
    const parts = batch.parts.map((p) => `${firstId(p)}:${'row' in p ? 1 : p.count}`)
    process.stdout.write(`accepted ${now()} ${parts.join(' ')}\n`)
  },
})
process.stdout.write('ready\n')
