import { Type } from '@platform/config'
import type { ServiceApp } from '@platform/http'
import { bearerScheme, requireBearerToken } from '../bearer-token.js'
import { analyticsProblems } from '../problems.js'
import type { AnalyticsRepository } from './analytics-repository.js'
import {
  activeUserEstimates,
  activeUsers,
  cohorts,
  dailyActiveUsers,
  MAX_COHORT_DAYS,
  MAX_DAU_DAYS,
  MAX_ESTIMATE_DAYS,
  MAX_WINDOW_DAYS,
  retention,
} from './answers.js'
import { DAY_PATTERN } from './days.js'

/** The OpenAPI security of the read routes where ANALYTICS_READ_TOKEN is set (the scheme is named in app.ts). */
export const READ_TOKEN = bearerScheme(
  'readToken',
  'The token of ANALYTICS_READ_TOKEN, where one is set, for the read API and the dashboard.',
)

const Day = (description: string) =>
  Type.String({ pattern: DAY_PATTERN, description: `${description} (YYYY-MM-DD, a UTC day)` })

const RangeQuery = (maxDays: number) =>
  Type.Object(
    { from: Day('First day'), to: Day(`Last day, included; at most ${maxDays} days after from`) },
    { additionalProperties: false },
  )

const RetentionQuery = Type.Object(
  {
    day: Day('The day'),
    include: Type.Optional(Type.Literal('users', { description: 'List the returning users, paged' })),
    cursor: Type.Optional(Type.String({ description: 'next_cursor of the previous page (include=users)' })),
    limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000, description: 'Users per page' }),
  },
  { additionalProperties: false },
)

const Window = Type.Integer({
  minimum: 1,
  maximum: MAX_WINDOW_DAYS,
  default: 7,
  description: 'Days of the window, ending on the day: 7 for weekly, 30 for monthly active users',
})

const ActiveUsersQuery = Type.Object(
  { day: Day('The last day of the window'), window: Window },
  { additionalProperties: false },
)

const EstimatesQuery = Type.Object(
  {
    from: Day('First day'),
    to: Day(`Last day, included; at most ${MAX_ESTIMATE_DAYS} days after from`),
    window: Window,
  },
  { additionalProperties: false },
)

const ActiveUsersAnswer = Type.Object({
  day: Type.String(),
  window_days: Type.Integer(),
  users: Type.Integer({ description: 'Users active on at least one day of the window, counted exactly' }),
})

const EstimatesAnswer = Type.Object({
  window_days: Type.Integer(),
  standard_error: Type.Number({ description: 'Relative standard error of each estimate (0.013: 1.3%, as measured)' }),
  days: Type.Array(Type.Object({ day: Type.String(), users: Type.Integer({ description: 'Estimated users' }) })),
})

const DauAnswer = Type.Array(Type.Object({ day: Type.String(), users: Type.Integer() }))

const RetentionAnswer = Type.Object({
  day: Type.String(),
  active: Type.Integer({ description: 'Users active on the day' }),
  returning: Type.Integer({ description: 'Of them, users also active on at least one of the 7 days before' }),
  users: Type.Optional(Type.Array(Type.String())),
  next_cursor: Type.Optional(Type.Union([Type.String(), Type.Null()])),
})

const CohortsAnswer = Type.Array(
  Type.Object({
    day: Type.String(),
    users: Type.Integer({ description: 'Users active on the cohort day' }),
    retained: Type.Array(
      Type.Object({
        after_days: Type.Integer(),
        users: Type.Union([Type.Integer(), Type.Null()]),
        share: Type.Union([Type.Number(), Type.Null()]),
      }),
    ),
  }),
)

const UTC_NOTE = 'Days are UTC days: 2026-11-01 covers 2026-11-01T00:00:00Z up to 2026-11-02T00:00:00Z.'

/**
 * The read API (docs/analytics.md#api): each handler takes its checked query and makes one call of answers.ts. The
 * answers come from the rollups, current as of the last committed batch.
 */
export async function registerAnalyticsRoutes(
  app: ServiceApp,
  repo: AnalyticsRepository,
  options: { sketches: boolean; readToken: string | undefined },
): Promise<void> {
  // ANALYTICS_READ_TOKEN, where set: every read route asks for it; unset, they are open (an internal network).
  const onRequest = requireBearerToken({
    token: options.readToken,
    whenUnset: 'open',
    problem: analyticsProblems.invalidReadToken,
    detail: 'A valid bearer token (ANALYTICS_READ_TOKEN) is required.',
  })
  const security = options.readToken === undefined ? {} : { security: READ_TOKEN.requirement }
  app.get(
    '/v1/analytics/dau',
    {
      onRequest,
      schema: {
        ...security,
        summary: 'Daily active users',
        description: `Users active on each day from \`from\` to \`to\` (every day present, 0 where nobody was active). ${UTC_NOTE} At most ${MAX_DAU_DAYS} days.`,
        tags: ['analytics'],
        querystring: RangeQuery(MAX_DAU_DAYS),
        response: { 200: DauAnswer },
      },
    },
    async (request) => dailyActiveUsers(repo, request.query.from, request.query.to),
  )

  app.get(
    '/v1/analytics/retention',
    {
      onRequest,
      schema: {
        ...security,
        summary: '7-day retention of one day',
        description: `Users active on \`day\`, and how many of them were also active on at least one of the 7 days before. With include=users, those users, paged (\`limit\`, \`cursor\`). ${UTC_NOTE}`,
        tags: ['analytics'],
        querystring: RetentionQuery,
        response: { 200: RetentionAnswer },
      },
    },
    async (request) => retention(repo, request.query),
  )

  app.get(
    '/v1/analytics/retention/cohorts',
    {
      onRequest,
      schema: {
        ...security,
        summary: 'Retention cohorts',
        description: `For each day's active users, how many (and what share) were active again 1 to 7 days later; null for days still to come. ${UTC_NOTE} At most ${MAX_COHORT_DAYS} days.`,
        tags: ['analytics'],
        querystring: RangeQuery(MAX_COHORT_DAYS),
        response: { 200: CohortsAnswer },
      },
    },
    async (request) => cohorts(repo, request.query.from, request.query.to),
  )

  app.get(
    '/v1/analytics/active-users',
    {
      onRequest,
      schema: {
        ...security,
        summary: 'Active users of a window (weekly, monthly), exactly',
        description: `Users active on at least one of the \`window\` days ending on \`day\` (7: weekly active users, 30: monthly), counted exactly from the rollups; window=1 is the day's DAU. ${UTC_NOTE} A window of at most ${MAX_WINDOW_DAYS} days.`,
        tags: ['analytics'],
        querystring: ActiveUsersQuery,
        response: { 200: ActiveUsersAnswer },
      },
    },
    async (request) => activeUsers(repo, request.query.day, request.query.window),
  )

  app.get(
    '/v1/analytics/active-users/estimates',
    {
      onRequest,
      schema: {
        ...security,
        summary: 'Active users of a window for every day of a range, estimated',
        description: `For each day from \`from\` to \`to\`, the users active in the \`window\` days ending on it, estimated from daily HyperLogLog sketches (standard error in the answer). 501 problem+json where the database has no hll extension. ${UTC_NOTE} At most ${MAX_ESTIMATE_DAYS} days.`,
        tags: ['analytics'],
        querystring: EstimatesQuery,
        response: { 200: EstimatesAnswer },
      },
    },
    async (request) => activeUserEstimates(repo, request.query, options.sketches),
  )
}
