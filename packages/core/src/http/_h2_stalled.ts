/**
 * Test helper, run in a child process with `--v8-flags=--expose-gc`: a server answering
 * 8 MiB bodies under a 64 MiB memory ceiling, an HTTP/2 client (`node:http2`) that asks
 * for 40 of them and never reads, then closes. Prints what it measured as JSON: RSS at
 * the start, at the peak, and after collections plus glibc's `malloc_trim` (which hands
 * back what was freed, so only memory still in use remains).
 *
 * @module
 */

import http2 from "node:http2";
import { serve } from "@krepis/core/http";
import { until } from "../_poll.ts";

const MiB = 1 << 20;
const big = new Uint8Array(8 * MiB);
const server = await serve(
  {
    hostname: "127.0.0.1",
    port: 0,
    onListen() {},
    maxBufferedMemory: 64 * MiB,
  },
  () => new Response(big.slice()),
);
const rss = () => Deno.memoryUsage().rss / MiB;
const libc = Deno.dlopen("libc.so.6", {
  malloc_trim: { parameters: ["usize"], result: "i32" },
});
const gc = (globalThis as unknown as { gc: () => void }).gc;
const settle = async () => {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
  }
  libc.symbols.malloc_trim(0n);
};

await settle();
const baseline = rss();
const client = http2.connect(`http://127.0.0.1:${server.addr.port}`);
const statuses: number[] = [];
for (let i = 0; i < 40; i++) {
  const stream = client.request({ ":path": "/" });
  stream.pause();
  stream.on("response", (headers) => statuses.push(Number(headers[":status"])));
  stream.on("error", () => {});
}
await until("40 response heads", () => statuses.length === 40);
const held = server.stats().bufferedBytes;
const peak = rss();
client.destroy();
await until(
  "held bodies to be let go",
  () => server.stats().bufferedBytes === 0,
);
await settle();
console.log(JSON.stringify({
  ok: statuses.filter((s) => s === 200).length,
  refused: statuses.filter((s) => s === 503).length,
  held,
  left: server.stats().bufferedBytes,
  baseline,
  peak,
  after: rss(),
}));
await server.shutdown();
libc.close();
