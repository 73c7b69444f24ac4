export { type RunningProcess, startTsProcess } from './lib/child-process.js'
export { type TestUrls, testUrls } from './lib/env.js'
export { listening } from './lib/global-setup.js'
export {
  createTestSchema,
  createTestVhost,
  redisPrefix,
  type TestSchema,
  type TestVhost,
  uniqueName,
} from './lib/isolation.js'
export { type PrivatePostgres, type PrivatePostgresOptions, startPrivatePostgres } from './lib/private-postgres.js'
export { type RabbitAdmin, rabbitAdmin } from './lib/rabbit-admin.js'
export { createTcpProxy, type TcpProxy } from './lib/tcp-proxy.js'
export { sleep, waitFor } from './lib/wait.js'
