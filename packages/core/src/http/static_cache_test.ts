// The static cache's limits as serve() options, against the built library over real
// sockets. What the cache holds is seen from outside: a kept file larger than one read
// chunk (256 KiB) lives in a snapshot file of its own, an unlinked file in the temporary
// directory ("/tmp/#<inode> (deleted)") or a sealed memfd named "krepis-static"
// (static_files/cache.rs, SnapshotStore), which shows in this process's /proc/self/fd
// (the kernel runs in-process).

import assert from "node:assert/strict";
import { KrepisError } from "../errors.ts";
import { serve } from "./serve.ts";
import type { ServeOptions } from "./types.ts";

const SIZE = (300 << 10) + 7; // over one read chunk: kept in a snapshot file

/** A descriptor's target that is a snapshot: a memfd of the cache, or an unlinked file. */
const SNAPSHOT = /^\/memfd:krepis-static|\/#\d+ \(deleted\)$/;

/**
 * How many of the cache's snapshot copies of SIZE bytes this process holds now (the size
 * tells these tests' copies from any other server's in the process).
 */
async function keptCopies(): Promise<number> {
  let n = 0;
  for await (const entry of Deno.readDir("/proc/self/fd")) {
    const fd = `/proc/self/fd/${entry.name}`;
    const target = await Deno.readLink(fd).catch(() => "");
    if (!SNAPSHOT.test(target)) continue;
    const size = await Deno.stat(fd).then((s) => s.size, () => -1);
    if (size === SIZE) n++;
  }
  return n;
}

/** Polls until `keptCopies()` is `want` (a dropped copy closes when its last reader ends). */
async function expectCopies(want: number, what: string): Promise<void> {
  const until = Date.now() + 10_000;
  let now = await keptCopies();
  while (now !== want && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 25));
    now = await keptCopies();
  }
  assert.equal(now, want, what);
}

/** Files a, b, c of SIZE distinct bytes, returned once their last change is `ms` old. */
async function settledFiles(dir: string, ms: number) {
  const files: Record<string, Uint8Array> = {};
  for (const [k, name] of ["a", "b", "c"].entries()) {
    files[name] = new Uint8Array(SIZE).map((_, i) => (i * 13 + k * 101) % 251);
    await Deno.writeFile(`${dir}/${name}`, files[name]);
  }
  // ctime is what the kernel checks; Deno rounds it to seconds, so wait from mtime (ms).
  const last = (await Deno.stat(`${dir}/c`)).mtime!.getTime();
  while (Date.now() < last + ms + 200) {
    await new Promise((r) => setTimeout(r, 25));
  }
  return files;
}

function listen(dir: string, staticCache: ServeOptions["staticCache"]) {
  return serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    static: { "/s": dir },
    staticCache,
  }, () => new Response("handler"));
}

async function get(port: number, name: string): Promise<Uint8Array> {
  const res = await fetch(`http://127.0.0.1:${port}/s/${name}`);
  assert.equal(res.status, 200);
  return new Uint8Array(await res.arrayBuffer());
}

Deno.test("static cache: maxBytes 0 keeps nothing and still serves every version exactly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-cache-" });
  try {
    const files = await settledFiles(dir, 100);
    const base = await keptCopies();
    await using server = listen(dir, { maxBytes: 0, settleMs: 100 });
    for (const name of ["a", "b", "c", "a"]) {
      assert.deepEqual(await get(server.addr.port, name), files[name]);
    }
    await expectCopies(base, "a cache turned off holds no copy");
    // Rewritten in place: the next request reads the new bytes.
    const next = new Uint8Array(SIZE).fill(42);
    await Deno.writeFile(`${dir}/a`, next);
    assert.deepEqual(await get(server.addr.port, "a"), next);
    await expectCopies(base, "still no copy");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("static cache: a small maxBytes keeps the newest files and drops the oldest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-cache-" });
  try {
    const files = await settledFiles(dir, 100);
    const base = await keptCopies();
    // Room for two of the three files.
    await using server = listen(dir, { maxBytes: 2 * SIZE + 1, settleMs: 100 });
    const port = server.addr.port;
    assert.deepEqual(await get(port, "a"), files.a);
    await expectCopies(base + 1, "a is kept");
    assert.deepEqual(await get(port, "b"), files.b);
    await expectCopies(base + 2, "a and b are kept");
    assert.deepEqual(await get(port, "c"), files.c);
    await expectCopies(base + 2, "c is kept and a, the oldest, dropped");
    for (const name of ["c", "b", "a"]) { // exact bytes from the copies and the file alike
      assert.deepEqual(await get(port, name), files[name]);
    }
    await server.shutdown();
    await expectCopies(base, "a closed server holds no copy");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("static cache: a file over maxFileBytes is served but never kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-cache-" });
  try {
    const files = await settledFiles(dir, 100);
    const base = await keptCopies();
    await using server = listen(dir, { maxFileBytes: SIZE - 1, settleMs: 100 });
    assert.deepEqual(await get(server.addr.port, "a"), files.a);
    assert.deepEqual(await get(server.addr.port, "a"), files.a);
    await expectCopies(base, "too large to keep");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("static cache: bad limits are refused before anything listens", () => {
  const cases: [ServeOptions["staticCache"], string][] = [
    [{ maxBytes: -1 }, "staticCache.maxBytes must be an integer between 0 and"],
    [{ maxBytes: 1.5 }, "staticCache.maxBytes must be an integer"],
    [{ maxBytes: 2 ** 41 }, "staticCache.maxBytes must be an integer"],
    [{ maxBytes: NaN }, "staticCache.maxBytes must be an integer"],
    [
      { maxFileBytes: 0 },
      "staticCache.maxFileBytes must be an integer between 1",
    ],
    [
      { maxBytes: 1000, maxFileBytes: 1001 },
      "staticCache.maxFileBytes (1001) must not exceed staticCache.maxBytes (1000)",
    ],
    [
      { settleMs: 0 },
      "staticCache.settleMs must be an integer between 100 and 86400000, got 0",
    ],
    [{ settleMs: 99.5 }, "staticCache.settleMs must be an integer"],
    [{ settleMs: 86_400_001 }, "staticCache.settleMs must be an integer"],
  ];
  for (const [staticCache, message] of cases) {
    assert.throws(
      () => listen(".", staticCache),
      (e) => e instanceof KrepisError && e.message.includes(message),
      JSON.stringify(staticCache),
    );
  }
});
