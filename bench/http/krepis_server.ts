/** Benchmark server (a): Krepis `serve` with the shared TypeScript handler. */
import { serve } from "@krepis/core";
import { handler } from "./handler.ts";

await serve({
  hostname: "127.0.0.1",
  port: 0,
  maxBodySize: 16 << 20,
  onListen: ({ port }) => console.log(`PORT ${port}`),
}, handler);
