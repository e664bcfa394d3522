/** Test helper: runs `_knul_server.ts` in a child process of its own. */

import { type TestCerts, testCerts } from "../_certs.ts";
import type { KnulClient } from "./client.ts";
import { testClient } from "./_testing.ts";

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

/**
 * A fresh session store and the test certificates, the server started on any port with
 * them, and a client connected to it. The caller closes the client, kills the server and
 * removes the store.
 */
export async function startWithClient(denoFlags: string[] = []): Promise<{
  certs: TestCerts;
  store: string;
  server: { child: Deno.ChildProcess; port: number };
  client: KnulClient;
}> {
  const certs = await testCerts();
  const store = await Deno.makeTempDir({ prefix: "krepis-knul-sessions-" });
  const server = await startKnulServer(0, store, certs.dir, denoFlags);
  const client = await testClient(server.port);
  return { certs, store, server, client };
}
