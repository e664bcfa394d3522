/**
 * Test helper: polling instead of fixed sleeps, with a deadline generous enough for a
 * loaded machine.
 *
 * @module
 */

/**
 * Resolves once `check` holds, polling every `everyMs`; throws naming `what` after
 * `timeoutMs`.
 */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 20_000, everyMs = 10 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
