import type { Logger } from '@platform/logging'
import amqp, { type AmqpConnectionManager } from 'amqp-connection-manager'

export interface BrokerOptions {
  url: string
  /** Shown as the connection name in the management UI (and used by tests to find and close it). */
  name: string
  logger?: Logger
  heartbeatSeconds?: number
}

export type Broker = AmqpConnectionManager

/**
 * One connection per process, reconnecting forever with a short delay. Channels created from it re-run their
 * setup (topology, consumers) after every reconnect.
 */
export function connectBroker(options: BrokerOptions): Broker {
  const connection = amqp.connect([options.url], {
    heartbeatIntervalInSeconds: options.heartbeatSeconds ?? 5,
    reconnectTimeInSeconds: 1,
    connectionOptions: { clientProperties: { connection_name: options.name } },
  })
  const log = options.logger
  connection.on('connect', () => log?.info({ broker: options.name }, 'connected to RabbitMQ'))
  connection.on('disconnect', ({ err }) =>
    log?.warn({ broker: options.name, err: err?.message }, 'disconnected from RabbitMQ; reconnecting'),
  )
  connection.on('connectFailed', ({ err }) =>
    log?.warn({ broker: options.name, err: err?.message }, 'could not connect to RabbitMQ; retrying'),
  )
  connection.on('blocked', ({ reason }) => log?.warn({ reason }, 'RabbitMQ blocked publishing'))

  // A channel wrapper emits 'error' when its setup fails, e.g. the channel closed while the topology was being
  // declared (the next connect runs the setup again). An EventEmitter without an 'error' listener throws, and
  // amqp-connection-manager would turn that into an unhandled rejection, so every channel gets a listener.
  const createChannel = connection.createChannel.bind(connection)
  connection.createChannel = (channelOptions) => {
    const channel = createChannel(channelOptions)
    channel.on('error', (err: Error, info?: { name?: string }) =>
      log?.warn(
        { broker: options.name, channel: info?.name ?? channelOptions?.name, err: err?.message },
        'channel setup failed; it runs again on the next connect',
      ),
    )
    return channel
  }
  return connection
}

export function brokerIsConnected(connection: Broker): boolean {
  return connection.isConnected()
}
