/**
 * Storage benchmark (`deno task bench:storage`), every figure against a named peer in the
 * same run, median of several runs:
 *
 * - journaled writes of 1000 small files vs plain `Deno.writeFile` (target ≤ 2× the time),
 *   batched (all issued at once: one durable flush) and one `await` after another;
 * - undo (and redo) of that 1000-file transaction (target < 1 s);
 * - KV point set / get and prefix list vs Deno KV (`Deno.openKv` on a file; target ≥ 1.0×),
 *   after a discarded warm-up round of each, in alternating order.
 *
 * @module
 */

import { join } from "node:path";
import { kernelInfo } from "@krepis/core/native";
import { openJournal, openKv } from "@krepis/core/storage";

const RUNS = Number(Deno.env.get("BENCH_RUNS") ?? 5);
const FILES = 1000;
const payload = new TextEncoder().encode(
  "export const value = 1;\n".repeat(8),
);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const rows: string[][] = [];
function row(
  name: string,
  ours: number[],
  peer: number[] | undefined,
  unit: string,
  note: string,
) {
  const o = median(ours);
  const p = peer ? median(peer) : undefined;
  // The spread shows how much the shared machine disturbed a figure.
  const spread = (xs: number[]) =>
    `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  rows.push([
    name,
    `${o.toFixed(2)} ${unit}`,
    spread(ours),
    p === undefined ? "" : `${p.toFixed(2)} ${unit}`,
    peer ? spread(peer) : "",
    p === undefined ? "" : `${(o / p).toFixed(2)}×`,
    note,
  ]);
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({
    prefix: "krepis-bench-",
    dir: Deno.env.get("BENCH_DIR"),
  });
}

// ---- journal -------------------------------------------------------------------------

const names = Array.from({ length: FILES }, (_, i) => `src/gen/file${i}.ts`);
const plainBatch: number[] = [], journalBatch: number[] = [];
const plainSeq: number[] = [], journalSeq: number[] = [];
const undo: number[] = [], redo: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const plainDir = await tempDir();
  await Deno.mkdir(join(plainDir, "src/gen"), { recursive: true });
  plainBatch.push(
    await time(() =>
      Promise.all(names.map((n) => Deno.writeFile(join(plainDir, n), payload)))
    ),
  );
  const plainSeqDir = await tempDir();
  await Deno.mkdir(join(plainSeqDir, "src/gen"), { recursive: true });
  plainSeq.push(
    await time(async () => {
      for (const n of names) {
        await Deno.writeFile(join(plainSeqDir, n), payload);
      }
    }),
  );

  const root = await tempDir();
  using journal = await openJournal(root);
  await journal.transaction(
    "mkdir",
    (tx) => tx.mkdir("src/gen", { recursive: true }),
  );
  journalBatch.push(
    await time(() =>
      journal.transaction(
        "batched",
        (tx) => Promise.all(names.map((n) => tx.writeFile(n, payload))),
      )
    ),
  );
  undo.push(await time(() => journal.undo(1)));
  redo.push(await time(() => journal.redo(1)));
  const seqRoot = await tempDir();
  using seqJournal = await openJournal(seqRoot);
  await seqJournal.transaction(
    "mkdir",
    (tx) => tx.mkdir("src/gen", { recursive: true }),
  );
  journalSeq.push(
    await time(() =>
      seqJournal.transaction("sequential", async (tx) => {
        for (const n of names) await tx.writeFile(n, payload);
      })
    ),
  );
  for (const dir of [plainDir, plainSeqDir, root, seqRoot]) {
    await Deno.remove(dir, { recursive: true });
  }
}
row(
  `journal: write ${FILES} files, batched`,
  journalBatch,
  plainBatch,
  "ms",
  "peer: Promise.all(Deno.writeFile) (no fsync); target ≤ 2×",
);
row(
  `journal: write ${FILES} files, one await each`,
  journalSeq,
  plainSeq,
  "ms",
  "peer: await Deno.writeFile in a loop (no fsync); one durable flush per op for us",
);
row(`journal: undo ${FILES} files`, undo, undefined, "ms", "target < 1000 ms");
row(`journal: redo ${FILES} files`, redo, undefined, "ms", "");

// ---- KV ------------------------------------------------------------------------------

const SETS = 3000, GETS = 20000, LISTED = 1000, LISTS = 20;
const value = (i: number) => ({
  title: `todo ${i}`,
  done: i % 2 === 0,
  tags: ["a", "b"],
});
type Store = {
  set(key: (string | number)[], value: unknown): Promise<unknown>;
  get(key: (string | number)[]): Promise<unknown>;
  list(selector: { prefix: (string | number)[] }): AsyncIterable<unknown>;
};

async function kvRun(store: Store) {
  const set = await time(async () => {
    for (let i = 0; i < SETS; i++) await store.set(["todos", i], value(i));
  });
  for (let i = 0; i < LISTED; i++) await store.set(["list", i], value(i));
  const get = await time(async () => {
    for (let i = 0; i < GETS; i++) await store.get(["todos", i % SETS]);
  });
  const list = await time(async () => {
    for (let r = 0; r < LISTS; r++) {
      let n = 0;
      for await (const _ of store.list({ prefix: ["list"] })) n++;
      if (n !== LISTED) throw new Error(`listed ${n}`);
    }
  });
  return { set: set / SETS * 1000, get: get / GETS * 1000, list: list / LISTS };
}

const ours = { set: [] as number[], get: [] as number[], list: [] as number[] };
const oursSync = { set: [] as number[] };
const deno = { set: [] as number[], get: [] as number[], list: [] as number[] };
async function kvKrepis(dir: string, keep: boolean) {
  using kv = await openKv(join(dir, "krepis"));
  const r = await kvRun(kv);
  if (keep) ours.set.push(r.set), ours.get.push(r.get), ours.list.push(r.list);
}
async function kvDeno(dir: string, keep: boolean) {
  const kv = await Deno.openKv(join(dir, "deno.sqlite"));
  const r = await kvRun(kv);
  if (keep) deno.set.push(r.set), deno.get.push(r.get), deno.list.push(r.list);
  kv.close();
}
// One discarded warm-up round of each (JIT), then runs in alternating order.
for (let run = -1; run < RUNS; run++) {
  const dir = await tempDir();
  const keep = run >= 0;
  if (run % 2 === 0) await kvKrepis(dir, keep), await kvDeno(dir, keep);
  else await kvDeno(dir, keep), await kvKrepis(dir, keep);
  if (keep) {
    using kv = await openKv(join(dir, "krepis-sync"), { sync: true });
    oursSync.set.push(
      await time(async () => {
        for (let i = 0; i < 300; i++) await kv.set(["todos", i], value(i));
      }) / 300 * 1000,
    );
  }
  await Deno.remove(dir, { recursive: true });
}
row(
  "kv: set (point, await each)",
  ours.set,
  deno.set,
  "µs",
  "peer: Deno KV on a file; target ≤ 1.0× the time",
);
row(
  "kv: set with sync: true (fsync each)",
  oursSync.set,
  deno.set,
  "µs",
  "durable across power loss",
);
row("kv: get (point)", ours.get, deno.get, "µs", "target ≤ 1.0× the time");
row(
  `kv: list prefix, ${LISTED} entries`,
  ours.list,
  deno.list,
  "ms",
  "target ≤ 1.0× the time",
);

// ---- report --------------------------------------------------------------------------

const info = await kernelInfo();
console.log(
  `krepis ${info.version} (${info.profile}) from ${info.libraryPath}; Deno ${Deno.version.deno}; median of ${RUNS} runs`,
);
const header = [
  "benchmark",
  "krepis (median)",
  "min–max",
  "peer (median)",
  "min–max",
  "krepis/peer time",
  "note",
];
const widths = header.map((h, i) =>
  Math.max(h.length, ...rows.map((r) => r[i].length))
);
const line = (cells: string[]) =>
  cells.map((c, i) => c.padEnd(widths[i])).join("  ");
console.log(line(header));
console.log(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) console.log(line(r));
