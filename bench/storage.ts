/**
 * Storage benchmark (`deno task bench:storage`), every figure against a named peer in the
 * same run, median of several runs:
 *
 * - journaled writes of 1000 small files vs plain `Deno.writeFile` (target ≤ 2× the time),
 *   batched (all issued at once: one durable flush) and one `await` after another;
 * - undo (and redo) of that 1000-file transaction (target < 1 s);
 * - KV vs Deno KV (`Deno.openKv` on a file), both durable: set and check+set with 1 and 32
 *   concurrent writers, get, getMany(10), list 1000 by prefix, queue latency and
 *   throughput; after a discarded warm-up round of each, in alternating order;
 * - KV on PostgreSQL vs `npm:postgres` running the same SQL (`storage_pg.ts`; alone:
 *   `deno run -A bench/storage_pg.ts`), on a server the bench starts (`tools/pg_temp.sh`).
 *
 * @module
 */

import { join } from "node:path";
import { kernelInfo } from "@krepis/core/native";
import { openJournal, openKv } from "@krepis/core/storage";
import { postgresRows } from "./storage_pg.ts";

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
  // Runs measure both in the same round, so the median of the per-round ratios is
  // steadier than the ratio of medians when the shared machine's load swings.
  const ratio = peer && peer.length === ours.length
    ? median(ours.map((x, i) => x / peer[i]))
    : p === undefined
    ? undefined
    : o / p;
  // The spread shows how much the shared machine disturbed a figure.
  const spread = (xs: number[]) =>
    `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  rows.push([
    name,
    `${o.toFixed(2)} ${unit}`,
    spread(ours),
    p === undefined ? "" : `${p.toFixed(2)} ${unit}`,
    peer ? spread(peer) : "",
    ratio === undefined ? "" : `${ratio.toFixed(2)}×`,
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

// `BENCH_ONLY=kv` skips the journal rows.
if (Deno.env.get("BENCH_ONLY") !== "kv") {
  const names = Array.from({ length: FILES }, (_, i) => `src/gen/file${i}.ts`);
  const plainBatch: number[] = [], journalBatch: number[] = [];
  const plainSeq: number[] = [], journalSeq: number[] = [];
  const undo: number[] = [], redo: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const plainDir = await tempDir();
    await Deno.mkdir(join(plainDir, "src/gen"), { recursive: true });
    plainBatch.push(
      await time(() =>
        Promise.all(
          names.map((n) => Deno.writeFile(join(plainDir, n), payload)),
        )
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
  row(
    `journal: undo ${FILES} files`,
    undo,
    undefined,
    "ms",
    "target < 1000 ms",
  );
  row(`journal: redo ${FILES} files`, redo, undefined, "ms", "");
}

// ---- KV ------------------------------------------------------------------------------

// Both stores durable: Deno KV (SQLite, WAL) syncs every commit; Krepis syncs every group.
const SEQ = 200, WRITERS = 32, PER_WRITER = 20, GETS = 20000, MANY = 4000;
const LISTED = 1000, LISTS = 20, MESSAGES = 200, BURST = 1000;
const value = (i: number) => ({
  title: `todo ${i}`,
  done: i % 2 === 0,
  tags: ["a", "b"],
});
// deno-lint-ignore no-explicit-any
type AnyKv = any;

/** Microseconds per operation of `ops` operations `fn` performs. */
async function perOp(ops: number, fn: () => Promise<unknown>): Promise<number> {
  return await time(fn) / ops * 1000;
}

async function checkAndSet(kv: AnyKv, key: unknown[]) {
  for (;;) {
    const current = await kv.get(key);
    const r = await kv.atomic().check(current).set(
      key,
      (current.value ?? 0) + 1,
    )
      .commit();
    if (r.ok) return;
  }
}

/** Round-trip latency of one message at a time, then a burst's throughput. */
async function queue(kv: AnyKv) {
  let deliver: (n: number) => void = () => {};
  let delivered = 0;
  const listening = kv.listenQueue((m: number) => {
    delivered++;
    deliver(m);
  });
  const latency = await perOp(MESSAGES, async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const got = new Promise((r) => deliver = r);
      await kv.enqueue(i);
      await got;
    }
  });
  delivered = 0;
  const burst = await perOp(BURST, async () => {
    const all = new Promise<void>((r) =>
      deliver = () => delivered === BURST && r()
    );
    await Promise.all(Array.from({ length: BURST }, (_, i) => kv.enqueue(i)));
    await all;
  });
  return { latency, burst, listening };
}

const KV_ROWS = [
  "set, 1 writer",
  `set, ${WRITERS} writers`,
  "check+set, 1 writer",
  `check+set, ${WRITERS} writers`,
  "get",
  "getMany(10)",
  `list ${LISTED} by prefix`,
  "queue enqueue→delivery, one at a time",
  `queue ${BURST} enqueued at once → all delivered`,
] as const;
type KvResult = Record<(typeof KV_ROWS)[number], number>;

async function kvRun(kv: AnyKv): Promise<KvResult> {
  const r = {} as KvResult;
  r["set, 1 writer"] = await perOp(SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await kv.set(["todos", i], value(i));
  });
  r[`set, ${WRITERS} writers`] = await perOp(
    WRITERS * PER_WRITER,
    () =>
      Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) {
          await kv.set(["w", w, i], value(i));
        }
      })),
  );
  r["check+set, 1 writer"] = await perOp(SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await checkAndSet(kv, ["counter", 0]);
  });
  r[`check+set, ${WRITERS} writers`] = await perOp(
    WRITERS * PER_WRITER,
    () =>
      Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) {
          await checkAndSet(kv, ["counter", w]);
        }
      })),
  );
  r.get = await perOp(GETS, async () => {
    for (let i = 0; i < GETS; i++) await kv.get(["todos", i % SEQ]);
  });
  const keys = Array.from({ length: 10 }, (_, i) => ["todos", i * 7]);
  r["getMany(10)"] = await perOp(MANY, async () => {
    for (let i = 0; i < MANY; i++) await kv.getMany(keys);
  });
  // Filled with one atomic per 100 entries, outside the timing.
  for (let i = 0; i < LISTED; i += 100) {
    const op = kv.atomic();
    for (let j = i; j < i + 100; j++) op.set(["list", j], value(j));
    await op.commit();
  }
  r[`list ${LISTED} by prefix`] = await perOp(LISTS, async () => {
    for (let l = 0; l < LISTS; l++) {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["list"] })) n++;
      if (n !== LISTED) throw new Error(`listed ${n}`);
    }
  }) / 1000;
  const q = await queue(kv);
  r["queue enqueue→delivery, one at a time"] = q.latency;
  r[`queue ${BURST} enqueued at once → all delivered`] = q.burst;
  kv.close();
  await q.listening;
  return r;
}

const ours = new Map<string, number[]>(), peer = new Map<string, number[]>();
const relaxed: number[] = [];
const keep = (into: Map<string, number[]>, r: KvResult) => {
  for (const [k, v] of Object.entries(r)) {
    into.set(k, [...(into.get(k) ?? []), v]);
  }
};
// One discarded warm-up round of each (JIT), then runs in alternating order.
const progress = (text: string) => {
  if (Deno.stderr.isTerminal()) {
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${text}`));
  }
};
for (let run = -1; run < RUNS; run++) {
  progress(`kv: round ${run + 2} of ${RUNS + 1} (the first is a warm-up)`);
  const dir = await tempDir();
  const krepis = async () => {
    const r = await kvRun(await openKv(join(dir, "krepis")));
    if (run >= 0) keep(ours, r);
  };
  const denoKv = async () => {
    const r = await kvRun(await Deno.openKv(join(dir, "deno.sqlite")));
    if (run >= 0) keep(peer, r);
  };
  if (run % 2 === 0) await krepis(), await denoKv();
  else await denoKv(), await krepis();
  if (run >= 0) {
    using kv = await openKv(join(dir, "krepis-relaxed"), {
      durability: "relaxed",
    });
    relaxed.push(
      await perOp(SEQ, async () => {
        for (let i = 0; i < SEQ; i++) await kv.set(["todos", i], value(i));
      }),
    );
  }
  await Deno.remove(dir, { recursive: true });
}
const targets: Record<string, string> = {
  "set, 1 writer": "durable both; target ≤ 1.0× the time",
  [`set, ${WRITERS} writers`]: "group commit; target ≤ 1.0×",
  "check+set, 1 writer": "get + atomic check/set; target ≤ 1.0×",
  [`check+set, ${WRITERS} writers`]: "target ≤ 1.0×",
  get: "target ≤ 0.2× (5× faster)",
  "getMany(10)": "target ≤ 0.2× (5× faster)",
  [`list ${LISTED} by prefix`]: "target ≤ 0.5× (2× faster)",
  "queue enqueue→delivery, one at a time": "durable enqueue + delivery",
  [`queue ${BURST} enqueued at once → all delivered`]: "per message",
};
for (const name of KV_ROWS) {
  row(
    `kv: ${name}`,
    ours.get(name)!,
    peer.get(name)!,
    name.startsWith("list") ? "ms" : "µs",
    `peer: Deno KV on a file; ${targets[name]}`,
  );
}
row(
  "kv: set, 1 writer, durability: relaxed",
  relaxed,
  peer.get("set, 1 writer")!,
  "µs",
  "opt-in; what a crash loses: the two rows below",
);

// ---- KV relaxed mode: what a SIGKILL loses ----------------------------------------------

/**
 * A child commits check+set increments in relaxed mode and prints each acknowledgement
 * with its time; it is SIGKILLed mid-stream, the store reopened, and the acknowledged
 * increments missing from it counted, with the time between the first lost one's
 * acknowledgement and the kill.
 */
async function relaxedLoss(): Promise<{ lost: number; ms: number }> {
  const dir = await tempDir();
  const child = new URL(
    "../packages/core/src/storage/testdata/kv_crash_child.ts",
    import.meta.url,
  ).pathname;
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", child, "count", dir, "relaxed"],
    stdout: "piped",
  }).spawn();
  const acks: [number, number][] = [];
  let text = "";
  const reading = (async () => {
    for await (const c of proc.stdout.pipeThrough(new TextDecoderStream())) {
      text += c;
    }
  })();
  while (!text.includes("ready")) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 300 + Math.random() * 200));
  proc.kill("SIGKILL");
  const killedAt = performance.timeOrigin + performance.now();
  await proc.status;
  await reading;
  for (const line of text.split("\n").slice(1)) {
    const [n, at] = line.split(" ").map(Number);
    if (at) acks.push([n, at]);
  }
  const kv = await openKv(dir);
  const counter = (await kv.get<number>(["counter"])).value ?? 0;
  kv.close();
  await Deno.remove(dir, { recursive: true });
  const lost = acks.filter(([n]) => n > counter);
  return {
    lost: lost.length,
    ms: lost.length ? killedAt - Math.min(...lost.map(([, at]) => at)) : 0,
  };
}
const losses = [];
for (let i = 0; i < RUNS * 2; i++) {
  progress(`kv relaxed: kill ${i + 1} of ${RUNS * 2}`);
  losses.push(await relaxedLoss());
}
progress("");
row(
  "kv relaxed: acknowledged commits lost per SIGKILL",
  losses.map((l) => l.lost),
  undefined,
  "",
  `max ${Math.max(...losses.map((l) => l.lost))} of ${losses.length} kills`,
);
row(
  "kv relaxed: age of the oldest lost commit at the kill",
  losses.map((l) => l.ms),
  undefined,
  "ms",
  `max ${
    Math.max(...losses.map((l) => l.ms)).toFixed(0)
  } ms; durable default: 0 lost (kv_crash_test.ts)`,
);

// ---- KV on PostgreSQL: Krepis vs npm:postgres, the same SQL ----------------------------

await postgresRows(RUNS, row, progress);
progress("");

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
  "krepis/peer time (median of per-run ratios)",
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
