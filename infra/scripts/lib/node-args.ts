import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

/**
 * The Node flags a service is deployed with, from its package.json (`"platform": { "nodeArgs": [...] }`): ingest's
 * and the feed's larger young generation (docs/adr/0008-ingest-group-commit.md, docs/performance.md#feed). Read by
 * `npm start` (run-all.ts) and the benchmarks that start a service; docker-compose.yml repeats them in its commands
 * (infra/scripts/test/docker-compose.unit.test.ts checks that it does). A service's worker process runs with its
 * service's flags (the feed worker with the feed's). [] for a service without any.
 */
export function serviceNodeArgs(service: string, root = ROOT): string[] {
  const manifest = join(root, 'services', service, 'package.json')
  if (!existsSync(manifest)) return []
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { platform?: { nodeArgs?: string[] } }).platform?.nodeArgs ?? []
}
