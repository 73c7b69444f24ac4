// k6 run /scripts/feed.js: the "feed" scenario of ../scenarios.ts against the bare route and the feed, closed then open
// (lib.js, script.js).
import { scenarioScript } from './script.js'

const script = scenarioScript('feed')
export const options = script.options
export const setup = script.setup
export const run = script.run
export const teardown = script.teardown
export const handleSummary = script.handleSummary
export default script.run
