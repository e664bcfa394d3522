import { buildApp } from "./src/app.ts";

// Served by the Krepis kernel; SIGINT/SIGTERM shut it down gracefully.
const app = buildApp();
const stop = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stop.abort());
}
const server = await app.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port: Number(Deno.env.get("PORT") ?? "8000"),
  signal: stop.signal,
  onListen: ({ hostname, port }) =>
    console.log(`listening on http://${hostname}:${port}/`),
});
await server.finished;
Deno.exit(0);
