import * as z from 'zod'

/**
 * `schema.safeParse` for what came off the wire. zod can throw instead of reporting an issue for some hostile
 * inputs (a `length` that is an object with no usable `valueOf`, found by the fuzzer); such a value is simply
 * not valid.
 */
export function parseUntrusted<T> (schema: z.ZodType<T>, value: unknown): z.ZodSafeParseResult<T> {
  try {
    return schema.safeParse(value)
  } catch {
    // a schema that refuses anything gives a failure of the right shape, with the issue in words
    return z.never({ message: 'unreadable value' }).safeParse(undefined)
  }
}
