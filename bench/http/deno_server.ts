/** Benchmark server (b): `Deno.serve` with the shared TypeScript handler. */
import { handler } from "./handler.ts";

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port}`),
}, handler);
