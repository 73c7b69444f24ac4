export { createInbox, type Inbox, type InboxBatchResult, type InboxResult, inboxMigrations } from './lib/inbox.js'
