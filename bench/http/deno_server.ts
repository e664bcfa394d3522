/** Benchmark server (b): `Deno.serve` with the shared TypeScript handler. */
import { handler } from "./handler.ts";

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port}`),
  // wrk cuts uploads off when a run ends; those failed reads are expected.
  onError: () => new Response(null, { status: 500 }),
}, handler);
