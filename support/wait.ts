/** Polls `check` until it returns something other than undefined/false, or fails after `timeoutMs` saying what it waited for. */
export async function waitFor<T> (what: string, check: () => T | undefined | false | Promise<T | undefined | false>, { timeoutMs = 10_000, intervalMs = 50 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`}`)
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}
