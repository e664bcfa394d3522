/**
 * A KNUL server in a process of its own, for restart and crash tests. Arguments: port,
 * session store directory, certificate directory (from `_certs.ts`). Prints the port, then
 * serves until killed.
 *
 * @module
 */

import { memorySink } from "../context/logger.ts";
import { serveKnul } from "./server.ts";

const [port, store, certDir] = Deno.args;
let runs = 0;
let hanging = 0;
const server = await serveKnul({
  port: Number(port),
  sessionStore: store,
  cert: await Deno.readTextFile(`${certDir}/server.pem`),
  key: await Deno.readTextFile(`${certDir}/server.key`),
  log: memorySink(),
}, {
  ping: { handler: () => "pong", idempotent: true },
  hang: () => (hanging++, new Promise(() => {})),
  echo: (_ctx, x) => (runs++, x),
  big: () => "x".repeat(4 << 20),
  wait: (ctx) =>
    new Promise((resolve) =>
      ctx.signal.addEventListener("abort", () => resolve(null))
    ),
  // What the fault tests check from outside: the kernel's counters, handler runs, and this
  // process's file descriptors and resident memory.
  stats: () => {
    // Collect garbage first (the process runs with --expose-gc) so memory is comparable.
    (globalThis as { gc?: () => void }).gc?.();
    return statsNow();
  },
});
const statsNow = () => ({
  ...server.stats(),
  runs,
  hanging,
  fds: [...Deno.readDirSync("/proc/self/fd")].length,
  rssKiB: Number(
    /VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1],
  ),
});
console.log(server.addr.port);
