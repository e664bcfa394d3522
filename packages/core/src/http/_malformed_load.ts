/**
 * Test helper for the fault test "10k requests mixing malformed input…", run in a child
 * process with `--v8-flags=--expose-gc` so that it measures only itself and can collect
 * garbage: a server taking 512-byte uploads (body limit 4 KiB), and 11 batches of 1,000
 * requests (8 keep-alive connections of 110 good uploads each, and 120 malformed,
 * oversize-head, oversize-body or garbage requests). Prints, as JSON, the server's
 * counters, the answer to one last plain GET, and the memory in use (RSS less the V8
 * heap's free space) after the three warm-up batches, after four more and after the last
 * four — each read once garbage is collected and glibc's `malloc_trim` handed back what
 * was freed, so that uploads and responses that merely wait to be collected, and the
 * allocators' spare capacity, do not count.
 *
 * `deno run -A --v8-flags=--expose-gc _malformed_load.ts`
 *
 * @module
 */

import assert from "node:assert/strict";
import { exchange, listen } from "./_test_util.ts";

const libc = Deno.dlopen("libc.so.6", {
  malloc_trim: { parameters: ["usize"], result: "i32" },
});
const gc = (globalThis as unknown as { gc: () => void }).gc;

/**
 * RSS less the V8 heap's free space, in KiB, once garbage is collected and glibc trimmed:
 * what the process holds in use. V8 sizes its heap by its own rules (here it grew by
 * 6–7 MiB in the second half while the live heap grew by 0.1 MiB), so free heap space is
 * not counted.
 */
async function inUseKiB(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  libc.symbols.malloc_trim(0n);
  const { rss, heapTotal, heapUsed } = Deno.memoryUsage();
  return Math.round((rss - (heapTotal - heapUsed)) / 1024);
}

const server = listen(async (req) => {
  const body = req.method === "POST" ? await req.bytes() : new Uint8Array();
  return new Response(`ok ${body.length}`);
}, { maxBodySize: 4096 });
const port = server.addr.port;
const encoder = new TextEncoder();
const good = encoder.encode(
  "POST /k HTTP/1.1\r\nhost: t\r\ncontent-length: 512\r\n\r\n" +
    "x".repeat(512),
);
const round = async (n: number) => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const buf = new Uint8Array(4096);
  try {
    for (let i = 0; i < n; i++) {
      await conn.write(good);
      const got = await conn.read(buf);
      assert.ok(
        got !== null &&
          new TextDecoder().decode(buf.subarray(0, got)).endsWith("ok 512"),
      );
    }
  } finally {
    conn.close();
  }
};
const bad = [
  "GET /\x01 HTTP/1.1\r\n\r\n",
  "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 99999\r\n\r\n",
  `GET / HTTP/1.1\r\nhost: t\r\nx: ${"y".repeat(70_000)}\r\n\r\n`,
  "GARBAGE\r\n\r\n",
];
const batch = async () => {
  const work: Promise<unknown>[] = [];
  for (let c = 0; c < 8; c++) work.push(round(110));
  for (let i = 0; i < 120; i++) {
    work.push(exchange(server, bad[i % bad.length]));
  }
  await Promise.all(work);
};

for (let i = 0; i < 3; i++) await batch();
const warm = await inUseKiB();
for (let i = 0; i < 4; i++) await batch();
const mid = await inUseKiB();
for (let i = 0; i < 4; i++) await batch();
const end = await inUseKiB();
const stats = server.stats();
const last = await (await fetch(`http://127.0.0.1:${port}/`)).text();
console.log(JSON.stringify({ stats, last, warm, mid, end }));
await server.shutdown();
libc.close();
