/**
 * Retries an assertion until it passes or the time is up, for effects that
 * arrive through the bus (eventually consistent views). The last failure is
 * rethrown, so a timeout says what was still wrong.
 */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
