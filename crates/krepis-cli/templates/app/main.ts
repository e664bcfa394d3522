import { buildApp } from "./src/app.ts";

// Served by the Krepis kernel; SIGINT/SIGTERM shut it down gracefully.
const app = buildApp();
const stop = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => stop.abort());
}
const port = Number(Deno.env.get("PORT") ?? "8000");
const server = await app.serve({
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  port,
  signal: stop.signal,
  onListen: ({ hostname, port }) =>
    console.log(`listening on http://${hostname}:${port}/`),
}).catch((error) => {
  if (
    error instanceof Deno.errors.AddrInUse ||
    /address already in use/i.test(String(error))
  ) {
    console.error(
      `port ${port} is in use: stop what listens there, or set PORT`,
    );
    Deno.exit(98);
  }
  throw error;
});
await server.finished;
Deno.exit(0);
