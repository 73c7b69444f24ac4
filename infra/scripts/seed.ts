/**
 * Demo data for a local run: `npm run seed` (after `npm start`). The services' features come later, so there is
 * nothing to seed yet; this is where sample events will be sent through the ingest API.
 */
console.log('[seed] nothing to seed yet')
