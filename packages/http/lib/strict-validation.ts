import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifySchemaCompiler } from 'fastify'
import type { TSchema } from 'typebox'

/**
 * A validator compiler for routes whose JSON bodies must be taken exactly as sent. Fastify's default (Ajv with
 * `coerceTypes: 'array'`, `removeAdditional: true`) turns `{"text": 123}` into "123", `null` into "", `["a"]` into
 * "a", and drops members a schema forbids instead of refusing them: a malformed command would be accepted as
 * another one. This one checks bodies with TypeBox's compiler and no conversion at all, so a wrong type or an
 * unexpected member (`additionalProperties: false`) is a 400 invalid-body; params, query and headers are still
 * converted from their string form (Value.Convert) before the check. Schema defaults are NOT applied: a route using
 * it gives none. Set it on a plugin scope (`scope.setValidatorCompiler(strictValidatorCompiler)`) or a route.
 * TypeBox knows the usual formats (uuid, date-time, email, ...) itself.
 */
export const strictValidatorCompiler: FastifySchemaCompiler<TSchema> = TypeBoxValidatorCompiler
