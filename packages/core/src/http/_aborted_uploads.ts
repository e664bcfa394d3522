/**
 * Test helper for the resource test of issue 9 (item 5), run in a child process with
 * `--v8-flags=--expose-gc` so that it measures only itself and can collect garbage: a
 * server whose handlers read or ignore their bodies, and `count` uploads (64 at a time)
 * that each send part of their body and close — streamed ones (20 MB announced, above
 * the buffering limit) and buffered ones (4 KiB announced). It prints, as JSON, what it
 * measured at the baseline (after a warm-up) and after the uploads: threads, open fds,
 * requests in flight, glibc's bytes in use (`mallinfo2`), RSS without the V8 heap, and
 * that RSS after glibc's `malloc_trim` too — each once the process has settled: every
 * upload released, Deno's blocking threads (where the body reads waited) exited again,
 * and garbage collected.
 *
 * `deno run -A --v8-flags=--expose-gc _aborted_uploads.ts [count]`
 *
 * @module
 */

import { serve } from "@krepis/core/http";
import { until } from "../_poll.ts";

const MiB = 2 ** 20;
const encoder = new TextEncoder();
const libc = Deno.dlopen("libc.so.6", {
  malloc_trim: { parameters: ["usize"], result: "i32" },
  mallinfo2: { parameters: [], result: { struct: Array(10).fill("usize") } },
});
const gc = (globalThis as unknown as {
  gc: (options?: { type: string; execution: string; flavor: string }) => void;
}).gc;

const server = serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (req) => {
    if (req.url.endsWith("/read")) await req.arrayBuffer().catch(() => {});
    else {
      await new Promise((resolve) => {
        req.signal.addEventListener("abort", resolve);
      });
    }
    return new Response("done");
  },
);
let connections = 0;
const chunk = new Uint8Array(16 * 1024);

async function upload(i: number): Promise<void> {
  const path = i % 2 ? "/read" : "/ignore";
  const length = i % 4 < 2 ? 20_000_000 : 4_096;
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  connections++;
  try {
    await conn.write(encoder.encode(
      `POST ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: ${length}\r\n\r\n`,
    ));
    await conn.write(chunk.subarray(0, length > 4_096 ? chunk.length : 1_000));
  } catch { /* the server may already have answered */ }
  conn.close();
}

async function round(count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await upload(next++);
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  // Every connection accepted (none left in the backlog), answered and closed.
  await until("every aborted upload to be released", () => {
    const s = server.stats();
    return s.connectionsTotal === connections && s.requestsInFlight === 0 &&
      s.connectionsOpen === 0;
  }, { timeoutMs: 30_000 });
}

const threads = () =>
  Number(
    Deno.readTextFileSync("/proc/self/status").match(/^Threads:\s+(\d+)/m)![1],
  );

/**
 * Waits for Deno's blocking threads to exit: body reads wait on its blocking-thread pool,
 * whose threads (their stacks and allocator caches) linger 10 s after their last call.
 * Settled once 10.5 s have passed and the thread count has held still for 3 s.
 */
async function settle(): Promise<void> {
  const start = Date.now();
  let count = threads();
  let since = start;
  while (
    (Date.now() - start < 10_500 || Date.now() - since < 3_000) &&
    Date.now() - start < 60_000
  ) {
    await new Promise((r) => setTimeout(r, 250));
    const now = threads();
    if (now !== count) [count, since] = [now, Date.now()];
  }
}

async function measure() {
  await settle();
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  // A last-resort collection also hands back the pages V8 keeps pooled after the
  // collections above: resident but outside `heapTotal`, they counted as native memory
  // (up to +18 MiB, in some runs only).
  gc({ type: "major", execution: "sync", flavor: "last-resort" });
  const fds = [...Deno.readDirSync("/proc/self/fd")].length;
  const info = new BigUint64Array(
    (libc.symbols.mallinfo2() as Uint8Array<ArrayBuffer>).buffer,
  );
  // uordblks (allocated from arenas) + hblkhd (allocated by mmap).
  const inUse = Number(info[7] + info[4]) / MiB;
  const native = () => {
    const m = Deno.memoryUsage();
    return (m.rss - m.heapTotal) / MiB;
  };
  const rss = native();
  libc.symbols.malloc_trim(0n);
  return {
    threads: threads(),
    fds,
    inFlight: server.stats().requestsInFlight,
    inUse,
    rss,
    trimmed: native(),
  };
}

const count = Number(Deno.args[0] ?? 10_000);
await round(1_000); // warm-up: runtime threads, allocator arenas, JIT
const base = await measure();
const started = Date.now();
await round(count);
const ms = Date.now() - started;
const after = await measure();
const stats = server.stats();
console.log(JSON.stringify({
  count,
  ms,
  aborted: stats.abortedTotal,
  rejected: stats.rejectedTotal,
  base,
  after,
}));
await server.shutdown();
libc.close();
