/**
 * The PostgreSQL rows of `deno task bench:storage`: the same operations through Krepis
 * (`openKv("postgres://…")`, the kernel's pooled Rust driver) and through `npm:postgres`
 * running the same SQL from TypeScript — the statements are read out of the kernel's
 * `sql.rs`, so the two cannot drift apart — with the same key and value encodings, against
 * one throw-away server (`tools/pg_temp.sh`: `initdb` + `pg_ctl` on 127.0.0.1, `fsync=off`)
 * in the same run. Each round uses a fresh database for each client, alternating which
 * goes first; both pools hold 8 connections. Besides wall time, each row notes the CPU
 * time the bench process spent per operation (`process.cpuUsage()`: every thread, so the
 * kernel's driver threads for Krepis and the event loop for `npm:postgres`), steadier
 * than wall time on a shared machine; the server's own CPU is not counted.
 *
 * @module
 */

import process from "node:process";
import postgres from "npm:postgres@3.4.7";
import { openKv } from "@krepis/core/storage";
import { encodeKey, type KvKey } from "../packages/core/src/storage/kv_key.ts";
import {
  decodeValue,
  encodeValue,
} from "../packages/core/src/storage/kv_value.ts";
import { startPostgres } from "../packages/core/src/storage/_pg_server.ts";

/** Adds a table row: name, our samples, the peer's samples, unit, note. */
export type Row = (
  name: string,
  ours: number[],
  peer: number[] | undefined,
  unit: string,
  note: string,
) => void;

const MANY = 10, SEQ = 200, WRITERS = 32, PER_WRITER = 20, GETS = 2000;
const LISTED = 1000, LISTS = 10, PAGE = 100, BURST = 200, POOL = 8;
// Every wait is bounded: a round that stalls fails the bench instead of hanging it.
const WAIT_MS = 60_000;

/** The statements of `crates/krepis-kernel/src/kv/postgres/sql.rs`, by constant name. */
async function kernelSql(): Promise<Record<string, string>> {
  const text = await Deno.readTextFile(
    new URL(
      "../crates/krepis-kernel/src/kv/postgres/sql.rs",
      import.meta.url,
    ),
  );
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/pub const (\w+): &str =\s*"([^"]*)";/g)) {
    out[m[1]] = m[2];
  }
  for (
    const name of [
      "SCHEMA",
      "GET",
      "GET_MANY",
      "SCAN",
      "NEXT_VERSION",
      "UPSERT",
      "ENQUEUE",
    ]
  ) {
    if (!out[name]) throw new Error(`sql.rs has no ${name}`);
  }
  return out;
}

const value = (i: number) => ({
  title: `todo ${i}`,
  done: i % 2 === 0,
  tags: ["a", "b"],
});

/** The operations both clients implement. */
interface Client {
  get(key: KvKey): Promise<unknown>;
  /** Reads up to 10 keys at once; returns how many were there. */
  getMany(keys: KvKey[]): Promise<number>;
  set(key: KvKey, value: unknown): Promise<void>;
  /** Reads `key` and writes value + 1 if it did not change meanwhile; false if it did. */
  checkAndSet(key: KvKey): Promise<boolean>;
  /** Every entry under `prefix`, in pages of {@linkcode PAGE}. */
  list(prefix: KvKey): Promise<number>;
  enqueue(message: number): Promise<void>;
  /** Handles every message with `handler` until `stop()`. */
  listen(handler: (m: number) => void): { stop(): Promise<void> };
  close(): Promise<void>;
}

async function krepisClient(url: string): Promise<Client> {
  const kv = await openKv(url);
  return {
    get: async (key) => (await kv.get(key)).value,
    getMany: async (keys) =>
      (await kv.getMany(keys)).filter((e) => e.versionstamp !== null).length,
    set: async (key, v) => void await kv.set(key, v),
    async checkAndSet(key) {
      const current = await kv.get<number>(key);
      return (await kv.atomic().check(current).set(
        key,
        (current.value ?? 0) + 1,
      )
        .commit()).ok;
    },
    async list(prefix) {
      let n = 0;
      for await (const _ of kv.list({ prefix }, { batchSize: PAGE })) n++;
      return n;
    },
    enqueue: async (m) => void await kv.enqueue(m),
    listen(handler) {
      const listening = kv.listenQueue((m) => handler(m as number));
      return {
        stop: async () => {
          kv.close();
          await listening;
        },
      };
    },
    close: () => Promise.resolve(),
  };
}

/** `npm:postgres` issuing the kernel's statements the way the kernel does. */
async function jsClient(
  url: string,
  q: Record<string, string>,
): Promise<Client> {
  const sql = postgres(url, { max: POOL, prepare: true, onnotice: () => {} });
  await sql.unsafe(q.SCHEMA);
  // deno-lint-ignore no-explicit-any
  type Tx = any;
  const run = (tx: Tx, text: string, params: unknown[] = []) =>
    tx.unsafe(text, params, { prepare: true });
  const row = (r: Record<string, unknown>) =>
    decodeValue(Number(r.kind), r.value as Uint8Array);
  const rollback = Symbol("check failed");
  let open = true;
  return {
    async get(key) {
      const [r] = await run(sql, q.GET, [encodeKey(key), Date.now()]);
      return r ? row(r) : null;
    },
    async getMany(keys) {
      const rows = await run(sql, q.GET_MANY, [
        sql.array(keys.map(encodeKey), 1001),
        Date.now(),
      ]);
      for (const r of rows) row(r);
      return rows.length;
    },
    // A plain set is one statement, as the kernel sends it.
    async set(key, v) {
      const e = encodeValue(v);
      // Array parameters with their types (bytea[] 1001, int2[] 1005, int8[] 1016).
      await run(sql, q.WRITE, [
        sql.array([], 1001),
        sql.array([encodeKey(key)], 1001),
        sql.array([e.kind], 1005),
        sql.array([e.bytes], 1001),
        sql.array([null], 1016),
      ]);
    },
    async checkAndSet(key) {
      const k = encodeKey(key);
      const [seen] = await run(sql, q.GET, [k, Date.now()]);
      try {
        await sql.begin(async (tx: Tx) => {
          const [{ version }] = await run(tx, q.NEXT_VERSION);
          const [now] = await run(tx, q.GET, [k, Date.now()]);
          if (now?.version !== seen?.version) throw rollback;
          const e = encodeValue(((seen ? row(seen) : 0) as number) + 1);
          await run(tx, q.UPSERT, [k, version, e.kind, e.bytes, null]);
        });
        return true;
      } catch (e) {
        if (e === rollback) return false;
        throw e;
      }
    },
    async list(prefix) {
      const p = encodeKey(prefix);
      const end = new Uint8Array([...p, 0xff]);
      let start = new Uint8Array([...p, 0]);
      let n = 0;
      for (;;) {
        const rows = await run(sql, q.SCAN, [start, end, Date.now(), PAGE]);
        for (const r of rows) row(r), n++;
        if (rows.length < PAGE) return n;
        start = new Uint8Array([...rows[rows.length - 1].key, 0]);
      }
    },
    enqueue: (m) =>
      sql.begin(async (tx: Tx) => {
        await run(tx, q.NEXT_VERSION);
        const e = encodeValue(m);
        await run(tx, q.ENQUEUE, [Date.now(), e.kind, e.bytes, [], []]);
      }),
    listen(handler) {
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          const now = Date.now();
          const [m] = await run(sql, q.LEASE, [now, now + 10_000]);
          if (!m) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          handler(decodeValue(Number(m.kind), m.payload) as number);
          await sql.begin(async (tx: Tx) => {
            await run(tx, q.LOCK_MESSAGE, [m.id]);
            await run(tx, q.REMOVE_MESSAGE, [m.id]);
          });
        }
      })();
      return {
        stop: async () => {
          stopped = true;
          await loop;
        },
      };
    },
    async close() {
      if (open) await sql.end({ timeout: 5 });
      open = false;
    },
  };
}

const ROWS = [
  "get",
  `getMany(${MANY})`,
  "set, 1 writer",
  `set, ${WRITERS} writers`,
  "check+set, 1 writer",
  `check+set, ${WRITERS} writers`,
  `list ${LISTED} by prefix (pages of ${PAGE})`,
  `queue: ${BURST} enqueued at once → all handled`,
] as const;
type Result = Record<(typeof ROWS)[number], number>;

function within<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no result in ${WAIT_MS} ms`)),
        WAIT_MS,
      );
    }),
  ]);
}

/** CPU time this process (every thread, the kernel's included) has used, in µs. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Per operation: wall time (µs; ms for lists) and this process's CPU time (µs). */
interface Measured {
  time: Result;
  cpu: Result;
}

async function round(c: Client): Promise<Measured> {
  const time = {} as Result, cpu = {} as Result;
  const perOp = async (
    name: keyof Result,
    ops: number,
    fn: () => Promise<unknown>,
    unit = 1000,
  ) => {
    const [start, used] = [performance.now(), cpuMicros()];
    await within(name, fn());
    time[name] = (performance.now() - start) / ops * unit;
    cpu[name] = (cpuMicros() - used) / ops;
  };
  await perOp("set, 1 writer", SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await c.set(["todos", i], value(i));
  });
  await perOp(
    `set, ${WRITERS} writers`,
    WRITERS * PER_WRITER,
    () =>
      Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) await c.set(["w", w, i], value(i));
      })),
  );
  await perOp("get", GETS, async () => {
    for (let i = 0; i < GETS; i++) {
      if (!await c.get(["todos", i % SEQ])) throw new Error("missing entry");
    }
  });
  await perOp(`getMany(${MANY})`, GETS / MANY, async () => {
    for (let i = 0; i < GETS / MANY; i++) {
      const keys = Array.from(
        { length: MANY },
        (_, k): KvKey => ["todos", (i * MANY + k) % SEQ],
      );
      if (await c.getMany(keys) !== MANY) throw new Error("missing entries");
    }
  });
  const increment = async (key: KvKey) => {
    while (!await c.checkAndSet(key));
  };
  await perOp("check+set, 1 writer", SEQ, async () => {
    for (let i = 0; i < SEQ; i++) await increment(["counter", 0]);
  });
  await perOp(
    `check+set, ${WRITERS} writers`,
    WRITERS * PER_WRITER,
    () =>
      Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        for (let i = 0; i < PER_WRITER; i++) await increment(["counter", w]);
      })),
  );
  // Filled outside the timing.
  await Promise.all(
    Array.from({ length: LISTED }, (_, i) => c.set(["list", i], value(i))),
  );
  await perOp(
    `list ${LISTED} by prefix (pages of ${PAGE})`,
    LISTS,
    async () => {
      for (let l = 0; l < LISTS; l++) {
        const n = await c.list(["list"]);
        if (n !== LISTED) throw new Error(`listed ${n}`);
      }
    },
    1,
  );
  let handled = 0;
  let all: () => void = () => {};
  const done = new Promise<void>((resolve) => all = resolve);
  const listener = c.listen(() => {
    if (++handled === BURST) all();
  });
  await perOp(
    `queue: ${BURST} enqueued at once → all handled`,
    BURST,
    async () => {
      await Promise.all(Array.from({ length: BURST }, (_, i) => c.enqueue(i)));
      await done;
    },
  );
  await listener.stop();
  await c.close();
  return { time, cpu };
}

/**
 * Starts a server, runs `runs` rounds (after a discarded warm-up) of every operation on
 * each client and adds one row per operation through `row`.
 */
export async function postgresRows(
  runs: number,
  row: Row,
  progress: (text: string) => void,
): Promise<void> {
  const q = await kernelSql();
  await using server = await startPostgres();
  const ours = new Map<string, number[]>(), peer = new Map<string, number[]>();
  const oursCpu = new Map<string, number[]>();
  const peerCpu = new Map<string, number[]>();
  const keep = (into: Map<string, number[]>, r: Result) => {
    for (const [k, v] of Object.entries(r)) {
      into.set(k, [...(into.get(k) ?? []), v]);
    }
  };
  for (let run = -1; run < runs; run++) {
    progress(
      `postgres: round ${run + 2} of ${runs + 1} (the first is a warm-up)`,
    );
    const krepis = async () => {
      const r = await round(await krepisClient(await server.freshDatabase()));
      if (run >= 0) keep(ours, r.time), keep(oursCpu, r.cpu);
    };
    const js = async () => {
      const r = await round(await jsClient(await server.freshDatabase(), q));
      if (run >= 0) keep(peer, r.time), keep(peerCpu, r.cpu);
    };
    if (run % 2 === 0) await krepis(), await js();
    else await js(), await krepis();
  }
  progress("postgres: watch lag");
  const lags = await watchLag(await server.freshDatabase());
  const median = (xs: number[]) => {
    const s = xs.toSorted((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  for (const name of ROWS) {
    const list = name.startsWith("list");
    const perSecond = (xs: number[]) =>
      Math.round((list ? 1e3 : 1e6) / median(xs));
    row(
      `pg: ${name}`,
      ours.get(name)!,
      peer.get(name)!,
      list ? "ms" : "µs",
      `peer: npm:postgres, same SQL; ${perSecond(ours.get(name)!)} vs ${
        perSecond(peer.get(name)!)
      } ${list ? "lists" : "ops"}/s; client CPU ${
        median(oursCpu.get(name)!).toFixed(0)
      } vs ${median(peerCpu.get(name)!).toFixed(0)} µs per ${
        list ? "list" : "op"
      }; target ≤ 1.0× the time`,
    );
  }
  row(
    `pg: watch lag, set in one store → seen by a watcher in another (${WATCHED}×)`,
    lags,
    undefined,
    "ms",
    `the staleness bound: a ${POLL_MS} ms poll plus a query; max ${
      Math.max(...lags).toFixed(1)
    } ms`,
  );
}

const WATCHED = 40, POLL_MS = 50;

/** Milliseconds from each `set` in one store until a watcher in another sees it. */
async function watchLag(url: string): Promise<number[]> {
  using writer = await openKv(url);
  using watcher = await openKv(url);
  const reader = watcher.watch([["watched"]]).getReader();
  await within("first watch entry", reader.read());
  const lags: number[] = [];
  for (let i = 1; i <= WATCHED; i++) {
    // Changes land at random points of the watcher's poll cycle.
    await new Promise((r) => setTimeout(r, Math.random() * POLL_MS));
    const sent = performance.now();
    await writer.set(["watched"], i);
    for (;;) {
      const { value } = await within("a watched change", reader.read());
      if (value?.[0].value === i) break;
    }
    lags.push(performance.now() - sent);
  }
  await reader.cancel();
  return lags;
}

if (import.meta.main) {
  const lines: string[] = [];
  await postgresRows(
    Number(Deno.env.get("BENCH_RUNS") ?? 5),
    (name, ours, peer, unit, note) => {
      const median = (xs: number[]) =>
        xs.toSorted((a, b) => a - b)[xs.length >> 1];
      const ratios = peer ? ours.map((x, i) => x / peer[i]) : [NaN];
      lines.push(
        `${name.padEnd(44)} krepis ${
          median(ours).toFixed(2)
        } ${unit}  npm:postgres ${
          peer ? median(peer).toFixed(2) : "-"
        } ${unit}  krepis/peer time ${median(ratios).toFixed(2)}×  ${note}`,
      );
    },
    (text) => {
      if (Deno.stderr.isTerminal()) {
        Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${text}`));
      }
    },
  );
  console.log(lines.join("\n"));
}
