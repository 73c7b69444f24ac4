// The worker thread's entry when the relay runs from its TypeScript source (./relay-thread.ts picks it; compiled,
// it starts dist/lib/relay-thread-worker.js itself). A worker does not inherit the TypeScript loader of a process
// started without one (vitest, a plain `node`), so it loads the relay through tsx's namespaced loader, which also
// works beside a process-wide one (https://tsx.is/dev-api/ts-import).
import { tsImport } from 'tsx/esm/api'

await tsImport('./relay-thread-worker.ts', import.meta.url)
