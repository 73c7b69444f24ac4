import { Type } from '@platform/config'
import { afterEach, describe, expect, it } from 'vitest'
import { PROBLEM_CONTENT_TYPE, problemResponse, problemTypes, type ServiceApp } from '../index.js'
import { expectCompleteOpenApi, expectProblem } from '../lib/testing.js'
import { buildTestApp } from './helpers.js'

let app: ServiceApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

const openapi = {
  description: 'A service under test.',
  version: '1.2.3',
  securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } as const },
  tags: [{ name: 'items', description: 'The items' }],
}

type Responses = Record<string, { description: string; content?: Record<string, { schema: unknown }> }>
interface Document {
  info: Record<string, string>
  servers: { url: string }[]
  tags: { name: string }[]
  components: { schemas: Record<string, { examples?: unknown[] }>; securitySchemes: Record<string, unknown> }
  paths: Record<string, Record<string, { responses: Responses; requestBody?: unknown; security?: unknown }>>
}

async function documentOf(instance: ServiceApp): Promise<Document> {
  return (await expectCompleteOpenApi(instance)) as unknown as Document
}

const PROBLEM_REF = { schema: { $ref: '#/components/schemas/ProblemDetails' } }

describe('OpenAPI document (/docs/json)', () => {
  it('is valid and lists every route: the service info, health, metrics, and routes of nested plugins', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    await app.register(async (scope) => {
      scope.get('/nested/:id', { schema: { tags: ['other'] } }, async () => ({}))
    })
    const document = await documentOf(app)
    expect(document.info).toEqual({ title: 'test', version: '1.2.3', description: 'A service under test.' })
    expect(document.servers).toEqual([{ url: '/', description: expect.any(String) }])
    expect(document.tags.map((t) => t.name)).toEqual(['items', 'health', 'metrics', 'other'])
    expect(document.components.securitySchemes).toEqual(openapi.securitySchemes)
    expect(Object.keys(document.paths).sort()).toEqual(
      ['/health/live', '/health/ready', '/items', '/items/{id}', '/metrics', '/nested/{id}'].sort(),
    )
    expect(document.components.schemas.ProblemDetails?.examples).toHaveLength(1)
  })

  it('gives every route problem+json 4XX and 5XX answers and keeps the responses it declares', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    app.put(
      '/things/:id',
      {
        schema: {
          security: [{ bearerAuth: [] }],
          response: {
            201: Type.Object({ id: Type.String() }),
            409: problemResponse('Already there.'),
            400: { description: 'Its own shape', content: { 'application/json': { schema: Type.Object({}) } } },
            '4xx': problemResponse('Its own 4xx'),
          },
        },
      },
      async (_request, reply) => reply.code(201).send({ id: 'x' }),
    )
    const document = await documentOf(app)
    const { responses, security } = document.paths['/things/{id}']?.put ?? { responses: {} }
    expect(Object.keys(responses).sort()).toEqual(['201', '400', '409', '4XX', '5XX'])
    expect(Object.keys(responses['400']?.content ?? {})).toEqual(['application/json'])
    expect(responses['409']?.content).toEqual({ [PROBLEM_CONTENT_TYPE]: PROBLEM_REF })
    expect(responses['4XX']?.description).toBe('Its own 4xx')
    expect(responses['5XX']?.content).toEqual({ [PROBLEM_CONTENT_TYPE]: PROBLEM_REF })
    expect(security).toEqual([{ bearerAuth: [] }])
    const probe = document.paths['/health/ready']?.get?.responses ?? {}
    expect(Object.keys(probe).sort()).toEqual(['200', '4XX', '503', '5XX'])
  })

  it('adds those answers to the document only: a route answering a 4xx of its own shape still does', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    // An OAuth token endpoint answers its errors as RFC 6749 §5.2 JSON, not as problem details.
    app.post('/token', async (_request, reply) => reply.code(400).send({ error: 'invalid_grant' }))
    const res = await app.inject({ method: 'POST', url: '/token' })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid_grant' })
    await documentOf(app)
  })

  it('documents a body the route reads itself, which Fastify then does not validate', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers()
      scope.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) => done(null, body))
      scope.post(
        '/raw',
        {
          schema: {
            documentedBody: {
              description: 'Signed bytes',
              schema: Type.Object({ id: Type.String() }),
              examples: { one: { summary: 'One', value: { id: 'a' } } },
            },
          },
        },
        async (request) => ({ bytes: (request.body as Buffer).length }),
      )
    })
    const res = await app.inject({
      method: 'POST',
      url: '/raw',
      headers: { 'content-type': 'application/json' },
      payload: '{"id":"a"}',
    })
    expect(res.json()).toEqual({ bytes: 10 })
    const document = await documentOf(app)
    expect(document.paths['/raw']?.post?.requestBody).toEqual({
      required: true,
      description: 'Signed bytes',
      content: {
        'application/json': {
          schema: expect.objectContaining({ type: 'object', required: ['id'] }),
          examples: { one: { summary: 'One', value: { id: 'a' } } },
        },
      },
    })
  })

  it('stops the start when a route names a security scheme the service did not declare', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    expect(() => app?.get('/x', { schema: { security: [{ apiKey: [] }] } }, async () => ({}))).toThrow(
      /route \/x names the security scheme "apiKey", which openapi.securitySchemes does not declare/,
    )
  })

  it('the completeness check fails for a route left out of the document', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    app.get('/secret', { schema: { hide: true } }, async () => ({}))
    await expect(expectCompleteOpenApi(app)).rejects.toThrow(/routes missing from \/docs\/json/)
  })

  it('serves Swagger UI at /docs, hides /docs from the document, and answers 405 for another method', async () => {
    ;({ app } = await buildTestApp({ openapi }))
    const document = await documentOf(app)
    expect(Object.keys(document.paths).filter((p) => p.startsWith('/docs'))).toEqual([])
    const res = await app.inject({ method: 'DELETE', url: '/docs' })
    expectProblem(res, 405, { type: problemTypes.methodNotAllowed.type })
  })
})
