/**
 * Runs the todo API on the Krepis kernel. `PORT` picks the port (default 8000), `HOSTNAME`
 * the interface (default 127.0.0.1). Ctrl-C shuts it down gracefully.
 *
 * @module
 */

import { createTodoApp } from "./src/app.ts";

const app = createTodoApp();
const stop = new AbortController();
Deno.addSignalListener("SIGINT", () => stop.abort());
const server = await app.serve({
  hostname: Deno.env.get("HOSTNAME") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? 8000),
  signal: stop.signal,
});
await server.finished;
Deno.exit(0);
