import { problemTypes } from '@platform/http'
import { describe, expect, it } from 'vitest'
import { rejectionReason } from '../src/metrics.js'
import { ingestProblems } from '../src/problems.js'

/** webhook_rejected_total{reason} comes from the problem type a refusal is answered with (metrics.ts, REASON_OF). */
describe('rejection reasons', () => {
  it('gives every refusal of POST /v1/webhooks/:source a reason of its own kind, not "other"', () => {
    const { invalidReadToken: _read, unknownEvent: _event, ...postProblems } = ingestProblems
    for (const problem of Object.values(postProblems))
      expect(rejectionReason(problem.type), problem.type).not.toBe('other')
    expect(rejectionReason(problemTypes.bodyTooLarge.type)).toBe('body_too_large')
    expect(rejectionReason(problemTypes.rateLimited.type)).toBe('rate_limited')
    expect(rejectionReason(problemTypes.shuttingDown.type)).toBe('unavailable')
  })

  it('counts a type it does not know as "other"', () => {
    expect(rejectionReason('about:blank')).toBe('other')
    expect(rejectionReason(problemTypes.internal.type)).toBe('other')
  })
})
