export { createInbox, type Inbox, type InboxResult, inboxMigrations } from './lib/inbox.js'
