import { describe, expect, it } from 'vitest'
import { prefixPattern } from '../src/users/users-repository.js'

describe('the handle prefix pattern of users.create', () => {
  it('escapes LIKE wildcards, so a handle with `_` matches only handles that start with it', () => {
    expect(prefixPattern('alice_liddell')).toBe('alice\\_liddell%')
    expect(prefixPattern('a%b\\c')).toBe('a\\%b\\\\c%')
    expect(prefixPattern('plain')).toBe('plain%')
  })
})
