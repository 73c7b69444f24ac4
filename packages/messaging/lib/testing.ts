import { createTestVhost } from '@platform/testing'
import { type Broker, connectBroker } from './connection.js'
import type { ExchangeDef } from './definitions.js'
import { createPublisher, type Publisher } from './publisher.js'

/**
 * Test support for messaging (imported as `@platform/messaging/testing`, from test files only). Test files run in
 * parallel, so each opens its own vhost (see packages/testing) with a connection and a publisher on it, instead of
 * repeating that setup and its teardown in every file.
 */
export interface TestBroker {
  /** The vhost's name, for the management API (`rabbitAdmin`). */
  vhost: string
  /** The vhost's AMQP URL, for a second connection or a child process. */
  amqpUrl: string
  /** Connected as `<prefix>-test`, the name the management UI shows. */
  broker: Broker
  publisher: Publisher
  /** Closes the publisher and the connection, then deletes the vhost; never rejects, so afterAll always finishes. */
  close(): Promise<void>
}

export interface TestBrokerOptions {
  /** Declared by the publisher. */
  exchanges?: ExchangeDef[]
  heartbeatSeconds?: number
}

export async function openTestBroker(prefix: string, options: TestBrokerOptions = {}): Promise<TestBroker> {
  const vhost = await createTestVhost(prefix)
  const broker = connectBroker({
    url: vhost.amqpUrl,
    name: `${prefix}-test`,
    heartbeatSeconds: options.heartbeatSeconds,
  })
  const publisher = createPublisher(broker, { exchanges: options.exchanges })
  return {
    vhost: vhost.vhost,
    amqpUrl: vhost.amqpUrl,
    broker,
    publisher,
    async close() {
      // In this order: a vhost deleted first would cut the connection from the server side.
      for (const step of [() => publisher.close(), () => broker.close(), () => vhost.delete()]) {
        await step().catch(() => {})
      }
    },
  }
}
