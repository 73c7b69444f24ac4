import { testUrls } from './env.js'

/**
 * A small client for the RabbitMQ management HTTP API (https://www.rabbitmq.com/docs/http-api-reference): what
 * tests and operators do in the UI, done the same way over HTTP.
 */
export function rabbitAdmin(baseUrl = testUrls().rabbitManagementUrl) {
  const url = new URL(baseUrl)
  const auth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
  const origin = `${url.protocol}//${url.host}`

  async function call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${origin}/api${path}`, {
      method,
      headers: { authorization: auth, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    if (!res.ok && !(method === 'DELETE' && res.status === 404)) {
      throw new Error(`RabbitMQ management ${method} ${path}: ${res.status} ${await res.text()}`)
    }
    const text = await res.text()
    return (text ? JSON.parse(text) : undefined) as T
  }
  const v = (vhost: string) => encodeURIComponent(vhost)
  const user = decodeURIComponent(url.username) || 'guest'

  return {
    call,
    async createVhost(vhost: string) {
      await call('PUT', `/vhosts/${v(vhost)}`, {})
      await call('PUT', `/permissions/${v(vhost)}/${encodeURIComponent(user)}`, {
        configure: '.*',
        write: '.*',
        read: '.*',
      })
    },
    deleteVhost: (vhost: string) => call('DELETE', `/vhosts/${v(vhost)}`),
    async queue(vhost: string, queue: string) {
      return call<{
        messages: number
        messages_ready: number
        messages_unacknowledged: number
        arguments: Record<string, unknown>
      }>('GET', `/queues/${v(vhost)}/${encodeURIComponent(queue)}`)
    },
    /** Queue depth straight from the queue process (the HTTP stats lag by up to 5 s), through a passive declare. */
    async getMessages(vhost: string, queue: string, count = 10, requeue = true) {
      return call<
        {
          payload: string
          properties: { headers?: Record<string, unknown>; message_id?: string; type?: string; correlation_id?: string }
          routing_key: string
        }[]
      >('POST', `/queues/${v(vhost)}/${encodeURIComponent(queue)}/get`, {
        count,
        ackmode: requeue ? 'ack_requeue_true' : 'ack_requeue_false',
        encoding: 'auto',
        truncate: 50_000,
      })
    },
    async connections(vhost?: string) {
      const all = await call<{ name: string; vhost: string; client_properties?: { connection_name?: string } }[]>(
        'GET',
        vhost ? `/vhosts/${v(vhost)}/connections` : '/connections',
      )
      return all
    },
    /** Closes connections from the server side, as the UI's "Force Close" does. */
    async closeConnections(vhost: string, reason = 'closed by test') {
      const list = await this.connections(vhost)
      await Promise.all(
        list.map((c) =>
          fetch(`${origin}/api/connections/${encodeURIComponent(c.name)}`, {
            method: 'DELETE',
            headers: { authorization: auth, 'x-reason': reason },
          }),
        ),
      )
      return list.length
    },
    /**
     * Moves every message of `from` to `to` exactly as the management UI's "Move messages" button does: it creates
     * a dynamic shovel named "Move from <queue>" that deletes itself once the queue is drained
     * (rabbitmq_shovel_management, priv/www/js/shovel.js).
     */
    async moveMessages(vhost: string, from: string, to: string) {
      const name = `Move from ${from}`
      const local = `amqp:///${v(vhost)}`
      await call('PUT', `/parameters/shovel/${v(vhost)}/${encodeURIComponent(name)}`, {
        component: 'shovel',
        vhost,
        name,
        value: {
          'src-uri': local,
          'src-queue': from,
          'src-protocol': 'amqp091',
          'src-prefetch-count': 1000,
          'src-delete-after': 'queue-length',
          'dest-protocol': 'amqp091',
          'dest-uri': local,
          'dest-add-forward-headers': false,
          'ack-mode': 'on-confirm',
          'dest-queue': to,
        },
      })
      return name
    },
    shovels: (vhost: string) => call<{ name: string; state: string }[]>('GET', `/shovels/${v(vhost)}`),
  }
}

export type RabbitAdmin = ReturnType<typeof rabbitAdmin>
