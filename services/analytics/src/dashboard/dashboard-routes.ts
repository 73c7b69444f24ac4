import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { ServiceApp } from '@platform/http'

/**
 * The dashboard (docs/analytics.md#dashboard): GET / serves a page that draws DAU as a line chart and the retention
 * cohorts as a heat map from the read API. The charting library is uPlot (https://github.com/leeoniya/uPlot, MIT,
 * ~50 KB), a dependency of this service, served from its node_modules folder by the service itself: no CDN, nothing
 * fetched from anywhere else, so a Content-Security-Policy of 'self' holds. The files are read once, at start.
 */
const require = createRequire(import.meta.url)
const PUBLIC = new URL('../../public/', import.meta.url)

interface Asset {
  path: string
  type: string
  body: Buffer
  /** The page itself is small and changes with a deploy; the assets are cached for an hour. */
  cache: string
}

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"

async function loadAssets(): Promise<Asset[]> {
  const uplot = (file: string) => require.resolve(`uplot/dist/${file}`)
  const files: [string, string | URL, string][] = [
    ['/', new URL('index.html', PUBLIC), 'text/html; charset=utf-8'],
    ['/assets/dashboard.js', new URL('dashboard.js', PUBLIC), 'text/javascript; charset=utf-8'],
    ['/assets/dashboard.css', new URL('dashboard.css', PUBLIC), 'text/css; charset=utf-8'],
    ['/assets/uplot.min.js', uplot('uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/assets/uplot.min.css', uplot('uPlot.min.css'), 'text/css; charset=utf-8'],
  ]
  return Promise.all(
    files.map(async ([path, file, type]) => ({
      path,
      type,
      body: await readFile(file),
      cache: path === '/' ? 'no-cache' : 'public, max-age=3600',
    })),
  )
}

export async function registerDashboard(app: ServiceApp): Promise<void> {
  for (const asset of await loadAssets()) {
    app.get(
      asset.path,
      {
        // Documented, not hidden: every route of a service is in its OpenAPI document (describeServiceBasics).
        schema:
          asset.path === '/'
            ? { summary: 'The analytics dashboard (HTML)', tags: ['dashboard'] }
            : { summary: `Dashboard asset ${asset.path}`, tags: ['dashboard'] },
      },
      async (_request, reply) => {
        reply
          .type(asset.type)
          .header('cache-control', asset.cache)
          .header('content-security-policy', CSP)
          .header('x-content-type-options', 'nosniff')
        return asset.body
      },
    )
  }
}
