import type { TracerProvider } from '@opentelemetry/api'
import type { InstrumentationBase } from '@opentelemetry/instrumentation'

/**
 * An official OpenTelemetry instrumentation applied to a module the process has already loaded.
 *
 * Instrumentations usually patch a module while it loads, through require-in-the-middle (CommonJS `require`) or
 * import-in-the-middle (an ES module loader hook given to `node --import`). The services are ES modules that import
 * their clients statically, before the configuration that says whether tracing is on has been read, and they run
 * with no loader hook. So the instrumentation is built disabled (it registers no hook) and its module definitions'
 * `patch` is called on the loaded exports: the way the OpenTelemetry contrib docs give for bundled code, where no
 * hook sees a `require` either (getModuleDefinitions(), @opentelemetry/instrumentation's InstrumentationBase).
 * What `patch` wraps is the class's prototype, shared by every client made before and after.
 *
 * Returns the undo (the definitions' `unpatch`), run when tracing stops.
 */
export function instrumentLoadedModule(
  instrumentation: InstrumentationBase,
  moduleExports: unknown,
  provider: TracerProvider,
): () => void {
  instrumentation.setTracerProvider(provider)
  const definitions = instrumentation.getModuleDefinitions()
  for (const definition of definitions) definition.patch?.(moduleExports, undefined)
  return () => {
    for (const definition of definitions) definition.unpatch?.(moduleExports, undefined)
  }
}
