/**
 * Test helper: a port for a server that a child process, or the call under test, binds
 * later.
 *
 * @module
 */

/**
 * A port that was free a moment ago, picked below the kernel's ephemeral range (where
 * port 0 binds and outgoing connections take theirs), so other tests' connections cannot
 * take it between this probe and the real bind.
 */
export function unusedPort(): number {
  let ephemeral = 32768;
  try {
    const range = Deno.readTextFileSync(
      "/proc/sys/net/ipv4/ip_local_port_range",
    );
    ephemeral = Number(range.trim().split(/\s+/)[0]) || ephemeral;
  } catch { /* not Linux: the usual default */ }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (ephemeral - 10_000));
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  throw new Error(`no free port in 10000..${ephemeral}`);
}
