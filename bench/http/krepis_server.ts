/** Benchmark server (a): Krepis `serve` with the shared TypeScript handler. */
import { serve } from "@krepis/core/http";
import { handler } from "./handler.ts";

await serve({
  hostname: "127.0.0.1",
  port: 0,
  maxBodySize: 16 << 20,
  onListen: ({ port }) => console.log(`PORT ${port}`),
  // wrk cuts uploads off when a run ends; those failed reads are expected.
  onError: () => new Response(null, { status: 500 }),
}, handler);
