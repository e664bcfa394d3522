/** Test helper: runs `_knul_server.ts` in a child process of its own. */

const script = new URL("./_knul_server.ts", import.meta.url).pathname;

/**
 * Starts the KNUL test server on `port` (0: any) with its session store and certificates,
 * and waits for the port it prints once listening. `denoFlags` go before the script.
 */
export async function startKnulServer(
  port: number,
  store: string,
  certDir: string,
  denoFlags: string[] = [],
): Promise<{ child: Deno.ChildProcess; port: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...denoFlags, script, String(port), store, certDir],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the server exited before listening");
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { child, port: Number(text.trim()) };
}
