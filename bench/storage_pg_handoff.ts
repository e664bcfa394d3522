/**
 * Where the time of one PostgreSQL `get` goes (`deno run -A bench/storage_pg_handoff.ts`;
 * `KREPIS_LIB_PATH=target/release/libkrepis.so` for the release build). On one store and
 * one key, in alternating rounds of sequential reads:
 *
 * - `kv.get` — the public API (gate, `nonblocking` FFI call, decoding);
 * - the `nonblocking` read call alone (`krepis_kv_read_async`);
 * - the same read as a synchronous call, which blocks the event loop: kernel, driver,
 *   loopback and server only — the difference to the line above is the hand-off to a
 *   Deno blocking thread and back;
 * - `npm:postgres` sending the kernel's `GET` statement from the event loop.
 *
 * Prints medians of wall time and of this process's CPU time per read.
 *
 * @module
 */

import process from "node:process";
import postgres from "npm:postgres@3.4.7";
import { openKv } from "@krepis/core/storage";
import { loadKernel } from "../packages/core/src/native/loader.ts";
import {
  encodeKey,
  encodeKeysFramed,
} from "../packages/core/src/storage/kv_key.ts";
import { startPostgres } from "../packages/core/src/storage/_pg_server.ts";

const READS = Number(Deno.env.get("BENCH_READS") ?? 2000);
const ROUNDS = Number(Deno.env.get("BENCH_RUNS") ?? 5);

const cpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

await using server = await startPostgres();
const url = await server.freshDatabase();
using kv = await openKv(url);
await kv.set(["todo", 1], { title: "a todo", done: false, tags: ["a", "b"] });
const { bindings } = await loadKernel();
const handle = await bindings.kvOpen(new TextEncoder().encode(url), 1);
const request = encodeKeysFramed([["todo", 1]]).slice();
const out = new Uint8Array(64 * 1024);
const sql = postgres(url, { max: 8, prepare: true, onnotice: () => {} });
const getText = (await Deno.readTextFile(
  new URL("../crates/krepis-kernel/src/kv/postgres/sql.rs", import.meta.url),
)).match(/pub const GET: &str =\s*"([^"]*)";/)![1];
const key = encodeKey(["todo", 1]);

const ways: Record<string, () => Promise<unknown> | unknown> = {
  "kv.get (public API)": () => kv.get(["todo", 1]),
  "nonblocking read call": () => bindings.kvReadAsync(handle, request, out),
  "synchronous read call (blocks the loop)": () =>
    bindings.kvRead(handle, request, out),
  "npm:postgres, same statement": () =>
    sql.unsafe(getText, [key, Date.now()], { prepare: true }),
};
const wall = new Map<string, number[]>(), used = new Map<string, number[]>();
try {
  for (let round = -1; round < ROUNDS; round++) {
    const names = Object.keys(ways);
    if (round % 2) names.reverse();
    for (const name of names) {
      const [t0, c0] = [performance.now(), cpu()];
      for (let i = 0; i < READS; i++) await ways[name]();
      const [t, c] = [
        (performance.now() - t0) * 1000 / READS,
        (cpu() - c0) / READS,
      ];
      // The first round warms connections and caches up.
      if (round < 0) continue;
      wall.set(name, [...wall.get(name) ?? [], t]);
      used.set(name, [...used.get(name) ?? [], c]);
    }
  }
} finally {
  await sql.end({ timeout: 5 });
  bindings.kvClose(handle);
}
const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1];
for (const name of Object.keys(ways)) {
  console.log(
    `${name.padEnd(42)} ${
      median(wall.get(name)!).toFixed(1).padStart(7)
    } µs/read  ${
      median(used.get(name)!).toFixed(1).padStart(6)
    } µs CPU/read  (rounds: ${
      wall.get(name)!.map((x) => x.toFixed(0)).join(", ")
    })`,
  );
}
