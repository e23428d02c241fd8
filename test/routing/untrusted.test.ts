import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { parseUntrusted } from '../../src/routing/index.ts'

describe('parseUntrusted', () => {
  it('reports a hostile value as invalid where zod itself throws (found by the fuzzer)', () => {
    const schema = z.object({ message: z.string().max(10) })
    const hostile = JSON.parse('{"message":{"length":{"valueOf":1,"toString":1}}}') as unknown
    expect(() => schema.safeParse(hostile)).toThrow(TypeError)
    const result = parseUntrusted(schema, hostile)
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.message).toBe('unreadable value')
  })

  it('passes good values through', () => {
    expect(parseUntrusted(z.object({ message: z.string() }), { message: 'hi' })).toMatchObject({ success: true, data: { message: 'hi' } })
  })
})
