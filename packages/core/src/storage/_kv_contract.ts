/**
 * The KV contract suite: every test runs the same operations on a Krepis store and on
 * `Deno.openKv(":memory:")` and asserts equal results or equal error types (and
 * messages). It is parameterised by how to open the Krepis store, so another backend
 * (PostgreSQL) runs it unchanged: `kvContract("postgres", () => openKv(url))`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Kv, KvU64, openKv } from "./kv.ts";

/** Opens a fresh, empty Krepis store and a function that disposes of it. */
export type OpenStore = () => Promise<
  { kv: Kv; dispose: () => Promise<void> }
>;

// deno-lint-ignore no-explicit-any
type AnyKv = any;

type Outcome =
  | { ok: true; value: unknown }
  | { ok: false; type: string; message: string };

/** Versionstamps differ between stores; their presence and order are checked apart. */
function normalize(value: unknown): unknown {
  if (value instanceof KvU64 || value instanceof Deno.KvU64) {
    return { u64: (value as { value: bigint }).value };
  }
  if (Array.isArray(value)) return value.map(normalize);
  if (
    value && typeof value === "object" &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.fromEntries(
      Object.entries(value).map((
        [k, v],
      ) => [
        k,
        k === "versionstamp" && typeof v === "string" ? "<vs>" : normalize(v),
      ]),
    );
  }
  return value;
}

async function outcome(f: () => unknown): Promise<Outcome> {
  try {
    return { ok: true, value: normalize(await f()) };
  } catch (e) {
    const error = e as Error;
    return { ok: false, type: error.constructor.name, message: error.message };
  }
}

async function collect(iter: AsyncIterable<unknown>): Promise<unknown[]> {
  const out = [];
  for await (const e of iter) out.push(e);
  return out;
}

/** Polls `f` until it returns something other than undefined (generous for load). */
async function eventually<T>(
  f: () => T | undefined | Promise<T | undefined>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Stands for a `KvU64` of each store's own class. */
const U64_MARK = Symbol("u64");

/**
 * Registers the contract tests for a store opened by `open`, labelled `name`.
 */
export function kvContract(name: string, open: OpenStore): void {
  /** Runs `body` with `same(label, op, options)` comparing Krepis and Deno KV. */
  const test = (
    title: string,
    body: (
      same: (
        label: string,
        op: (kv: AnyKv) => unknown,
        options?: { message?: boolean },
      ) => Promise<Outcome>,
      stores: { ours: Kv; deno: Deno.Kv },
    ) => Promise<void>,
  ) =>
    Deno.test(`kv contract (${name}): ${title}`, async () => {
      const store = await open();
      const deno = await Deno.openKv(":memory:");
      try {
        await body(async (label, op, options = {}) => {
          const ours = await outcome(() => op(store.kv));
          const theirs = await outcome(() => op(deno));
          if (!ours.ok && !theirs.ok && options.message === false) {
            assert.equal(ours.type, theirs.type, `${label}: error type`);
          } else {
            assert.deepEqual(ours, theirs, label);
          }
          return ours;
        }, { ours: store.kv, deno });
      } finally {
        try {
          deno.close();
        } catch { /* closed by the test */ }
        await store.dispose();
      }
    });

  test(
    "values of every structured-clone type round-trip with their class",
    async (same, stores) => {
      class MyError extends RangeError {}
      const values: unknown[] = [
        "text",
        42,
        -0,
        NaN,
        Infinity,
        null,
        undefined,
        true,
        12345678901234567890n,
        new Date(1700000000000),
        /a+b/gi,
        new Map<unknown, unknown>([["a", 1], [2, { b: [3] }]]),
        new Set([1, "2"]),
        new Uint8Array([1, 2, 3]),
        new Uint16Array([1, 65535]),
        new Float64Array([0.5]),
        new BigInt64Array([-1n]),
        new ArrayBuffer(4),
        new DataView(new ArrayBuffer(2)),
        new DataView(new Uint8Array([9, 8, 7, 6]).buffer, 1, 2),
        new Float16Array([1.5, -2]),
        [1, , 3],
        { nested: { list: [1, { x: null }] }, when: new Date(0) },
        new TypeError("bad type"),
        new MyError("mine"),
        new Error("with cause", { cause: { code: 7 } }),
        new AggregateError([new RangeError("inner")], "several"),
        new DOMException("stopped", "AbortError"),
        new Number(3),
        new String("boxed"),
        new Boolean(false),
        Object(5n),
        new (class Point {
          x = 1;
          y = 2;
        })(),
        {
          get computed() {
            return 4;
          },
        },
        (() => {
          const cycle: Record<string, unknown> = { name: "loop" };
          cycle.self = cycle;
          return cycle;
        })(),
        U64_MARK,
        "é\u{1F600}".repeat(2000),
        "x".repeat(60_000),
      ];
      for (const [i, value] of values.entries()) {
        const read = async (kv: AnyKv) => {
          const U = kv === stores.deno ? Deno.KvU64 : KvU64;
          await kv.set(["v", i], value === U64_MARK ? new U(7n) : value);
          const back = (await kv.get(["v", i])).value;
          const proto = back === null || back === undefined
            ? String(back)
            : Object.getPrototypeOf(back)?.constructor?.name;
          if (back instanceof Error) {
            return {
              proto,
              name: back.name,
              message: back.message,
              cause: back.cause,
              errors: back instanceof AggregateError
                ? back.errors.map((e) => [e.constructor.name, e.message])
                : undefined,
            };
          }
          if (back instanceof ArrayBuffer) {
            return {
              proto,
              len: back.byteLength,
            };
          }
          if (back instanceof DataView) {
            return {
              proto,
              bytes: [
                ...new Uint8Array(
                  back.buffer,
                  back.byteOffset,
                  back.byteLength,
                ),
              ],
            };
          }
          if (
            back !== null && typeof back === "object" && "self" in back &&
            back.self === back
          ) {
            return {
              proto,
              cycle: true,
              name: (back as { name: string }).name,
            };
          }
          if (typeof back === "number") return { proto, n: String(back) };
          return { proto, back };
        };
        await same(`value ${i}`, read);
      }
      // Deno's serializer refuses these with a TypeError; so does Krepis.
      await same("function", (kv) => kv.set(["f"], () => 1));
      await same("symbol", (kv) => kv.set(["s"], Symbol("s")));
      await same("WeakMap", (kv) => kv.set(["w"], new WeakMap()));
      await same(
        "SharedArrayBuffer",
        (kv) => kv.set(["w"], new SharedArrayBuffer(4)),
      );
      await same("MessagePort", (kv) => {
        const { port1, port2 } = new MessageChannel();
        try {
          return kv.set(["p"], port1);
        } finally {
          port1.close();
          port2.close();
        }
      });
      await same(
        "atomic set of a function throws at once",
        (kv) => {
          kv.atomic().set(["f"], () => 1);
        },
      );
      for (
        const blob of [
          new Blob(["abc"], { type: "text/plain" }),
          new File(["file body"], "notes.txt", { lastModified: 1000 }),
        ]
      ) {
        await same(blob.constructor.name, async (kv) => {
          await kv.set(["b"], blob);
          const back = (await kv.get(["b"])).value as Blob;
          return [
            back.constructor.name,
            back.size,
            back.type,
            await back.text(),
            back instanceof File ? [back.name, back.lastModified] : null,
          ];
        });
      }
    },
  );

  test("keys: arrays only, no empty writes, Deno's size limits", async (same) => {
    await same("string key", (kv) => kv.set("ab", 1), { message: false });
    await same("object part", (kv) => kv.set([{}], 1));
    await same("empty key write", (kv) => kv.set([], 1));
    await same("empty key read", (kv) => kv.get([]));
    // ["x" * n] encodes to n + 2 bytes.
    await same("write key 2048", (kv) => kv.set(["x".repeat(2046)], 1));
    await same("write key 2049", (kv) => kv.set(["x".repeat(2047)], 1));
    await same("read key 2048", (kv) => kv.get(["x".repeat(2046)]));
    await same("read key 2049", (kv) => kv.get(["x".repeat(2047)]));
    await same(
      "list prefix 2048",
      (kv) => collect(kv.list({ prefix: ["x".repeat(2046)] })),
    );
    await same(
      "list prefix 2049",
      (kv) => collect(kv.list({ prefix: ["x".repeat(2047)] })),
    );
  });

  test("values: 65,536 bytes of the serialized value, totals per atomic", async (same) => {
    await same("bytes 65536", (kv) => kv.set(["v"], new Uint8Array(65536)));
    await same("bytes 65537", (kv) => kv.set(["v"], new Uint8Array(65537)));
    // A one-byte string serializes to its length plus 6 bytes at this size.
    await same("string at the limit", (kv) => kv.set(["v"], "a".repeat(65530)));
    await same(
      "string over the limit",
      (kv) => kv.set(["v"], "a".repeat(65531)),
    );
    await same(
      "object over the limit",
      (kv) => kv.set(["v"], { s: "a".repeat(70_000) }),
    );
    const bigSets = (n: number) => (kv: AnyKv) => {
      const op = kv.atomic();
      for (let i = 0; i < n; i++) op.set(["big", i], new Uint8Array(65536));
      return op.commit();
    };
    await same("12 × 64 KiB", bigSets(12));
    await same("13 × 64 KiB", bigSets(13));
    const longKeys = (n: number) => (kv: AnyKv) => {
      const op = kv.atomic();
      for (let i = 0; i < n; i++) op.set(["k".repeat(1990), i], 1);
      return op.commit();
    };
    await same("40 long keys", longKeys(40));
    await same("41 long keys", longKeys(41));
    await same("100 checks", (kv) => {
      const op = kv.atomic();
      for (let i = 0; i < 100; i++) {
        op.check({ key: ["c", i], versionstamp: null });
      }
      return op.commit();
    });
    await same("101 checks", (kv) => {
      const op = kv.atomic();
      for (let i = 0; i < 101; i++) {
        op.check({ key: ["c", i], versionstamp: null });
      }
      return op.commit();
    });
    await same("1000 mutations", (kv) => {
      const op = kv.atomic();
      for (let i = 0; i < 1000; i++) op.delete(["d", i]);
      return op.commit();
    });
    await same("1001 mutations", (kv) => {
      const op = kv.atomic();
      for (let i = 0; i < 1001; i++) op.delete(["d", i]);
      return op.commit();
    });
    await same(
      "getMany 10",
      (kv) => kv.getMany(Array.from({ length: 10 }, (_, i) => ["g", i])),
    );
    await same(
      "getMany 11",
      (kv) => kv.getMany(Array.from({ length: 11 }, (_, i) => ["g", i])),
    );
    for (const expireIn of [0, 1e15, 1e16, -1, 1.5, NaN]) {
      await same(
        `expireIn ${expireIn}`,
        async (kv) => (await kv.set(["e"], 1, { expireIn })).ok,
      );
    }
  });

  test("list selectors follow Deno's rules", async (same) => {
    const fill = async (kv: AnyKv) => {
      for (const n of [1, 2, 3, 4, 5]) await kv.set(["n", n], n);
      await kv.set(["n"], "prefix itself");
      await kv.set(["o", 1], "other");
    };
    await same("fill", fill);
    const cases: [string, unknown, unknown?][] = [
      ["prefix", { prefix: ["n"] }],
      ["prefix + start", { prefix: ["n"], start: ["n", 3] }],
      ["prefix + end", { prefix: ["n"], end: ["n", 3] }],
      ["start + end", { start: ["n", 2], end: ["o"] }],
      ["empty prefix", { prefix: [] }],
      ["start outside prefix", { prefix: ["n"], start: ["o"] }],
      ["end outside prefix", { prefix: ["n"], end: ["m"] }],
      ["start equals prefix", { prefix: ["n"], start: ["n"] }],
      ["start > end", { start: ["n", 4], end: ["n", 2] }],
      ["prefix + start + end", {
        prefix: ["n"],
        start: ["n", 1],
        end: ["n", 3],
      }],
      ["start only", { start: ["n", 2] }],
      ["end only", { end: ["n", 2] }],
      ["reverse + limit", { prefix: ["n"] }, { reverse: true, limit: 2 }],
      ["batchSize 2", { prefix: ["n"] }, { batchSize: 2 }],
      ["batchSize 1000", { prefix: ["n"] }, { batchSize: 1000 }],
      ["batchSize 1001", { prefix: ["n"] }, { batchSize: 1001 }],
      ["limit 0", { prefix: ["n"] }, { limit: 0 }],
      ["limit 1.5", { prefix: ["n"] }, { limit: 1.5 }],
      ["limit 2000", { prefix: ["n"] }, { limit: 2000 }],
      ["bad cursor", { prefix: ["n"] }, { cursor: "!!" }],
    ];
    for (const [label, selector, options] of cases) {
      await same(label, (kv) => collect(kv.list(selector, options)));
    }
  });

  test("cursors: same strings as Deno, paging forward and back, bound to the selector", async (same) => {
    await same("fill", async (kv) => {
      for (let i = 0; i < 7; i++) await kv.set(["users", "bob", i], i);
      await kv.set(["users", "alice", "secret"], "s3cret");
      await kv.set(["users", "carol"], "c");
    });
    for (const reverse of [false, true]) {
      for (
        const selector of [
          { prefix: ["users", "bob"] },
          { prefix: ["users", "bob"], start: ["users", "bob", 2] },
          { start: ["users", "bob", 1], end: ["users", "bob", 6] },
        ]
      ) {
        await same(
          `pages ${JSON.stringify(selector)} reverse=${reverse}`,
          async (kv) => {
            const pages = [];
            let cursor: string | undefined;
            for (let page = 0; page < 5; page++) {
              const iter = kv.list(selector, { limit: 2, reverse, cursor });
              const values = (await collect(iter)).map((e: AnyKv) => e.value);
              pages.push({ values, cursor: iter.cursor });
              if (values.length === 0) break;
              cursor = iter.cursor;
            }
            return pages;
          },
        );
      }
    }
    await same(
      "cursor before the first entry",
      (kv) => kv.list({ prefix: [] }).cursor,
    );
    await same(
      "cursor option before iteration",
      (kv) => kv.list({ prefix: [] }, { cursor: "abc" }).cursor,
    );
    // A cursor taken under one prefix and replayed under another is read relative to
    // the new prefix: it can never reach the other tenant's keys.
    const forged = await same("forged cursor", async (kv) => {
      const alice = kv.list({ prefix: ["users"] }, { limit: 1 });
      await collect(alice);
      const bob = kv.list({ prefix: ["users", "bob"] }, {
        cursor: alice.cursor,
      });
      return (await collect(bob)).map((e: AnyKv) => e.key);
    });
    assert.ok(forged.ok, "a replayed cursor is read, not refused");
    assert.ok((forged.value as unknown[][]).length > 0);
    for (const key of forged.value as unknown[][]) {
      assert.deepEqual(key.slice(0, 2), ["users", "bob"]);
    }
    for (const cursor of ["AAAA", btoa("\x7f\x7f"), "_w=="]) {
      await same(`crafted cursor ${cursor}`, async (kv) => {
        const out = [];
        for (const reverse of [false, true]) {
          const iter = kv.list(
            { prefix: ["users", "bob"], start: ["users", "bob", 3] },
            { cursor, reverse },
          );
          out.push(await outcome(() => collect(iter)));
        }
        return out;
      });
    }
  });

  test(
    "atomic: checks, mutate, sum/min/max with KvU64, versionstamped keys",
    async (same, stores) => {
      await same("check+set", async (kv) => {
        const a = await kv.set(["a"], 1);
        const failed = await kv.atomic()
          .check({ key: ["a"], versionstamp: a.versionstamp })
          .check({ key: ["b"], versionstamp: "00000000000000000001" + "" })
          .set(["b"], 2).commit();
        const ok = await kv.atomic()
          .check({ key: ["a"], versionstamp: a.versionstamp })
          .check({ key: ["b"], versionstamp: null })
          .set(["b"], 2).delete(["a"]).commit();
        const b = await kv.get(["b"]);
        return [
          failed,
          ok.ok,
          b.versionstamp === ok.versionstamp,
          await kv.get(["a"]),
        ];
      });
      await same(
        "invalid versionstamp",
        (kv) => kv.atomic().check({ key: ["a"], versionstamp: "zz" }).commit(),
      );
      await same("sum/min/max", async (kv) => {
        await kv.atomic().sum(["u"], 5n).commit();
        await kv.atomic().sum(["u"], 0xffffffffffffffffn).commit(); // wraps to 4
        await kv.atomic().max(["u"], 10n).min(["m"], 3n).commit();
        await kv.atomic().min(["u"], 7n).max(["x"], 1n).commit();
        return await kv.getMany([["u"], ["m"], ["x"]]);
      });
      await same("sum on a non-U64", async (kv) => {
        await kv.set(["s"], "text");
        return await kv.atomic().sum(["s"], 1n).commit();
      });
      await same("max on a non-U64", async (kv) => {
        await kv.set(["s"], 1);
        return await kv.atomic().max(["s"], 1n).commit();
      });
      await same(
        "min with a non-U64 operand",
        (kv) =>
          kv.atomic().mutate({ type: "min", key: ["m"], value: 5 }).commit(),
      );
      await same("sum of numbers and bigints", async (kv) => {
        const U = kv === stores.deno ? Deno.KvU64 : KvU64;
        const sum = (key: string, value: unknown) =>
          kv.atomic().mutate({ type: "sum", key: [key], value }).commit();
        const out = [];
        for (
          const [key, value] of [
            ["num", 5],
            ["num", 2.5],
            ["num", -10],
            ["big", 2n ** 64n - 1n],
            ["big", 1n],
            ["big", -(2n ** 70n)],
            ["big", 2n ** 70n - 2n ** 64n],
            ["u", 3n],
            ["u", new U(4n)],
          ] as [string, unknown][]
        ) {
          if (key === "u" && value === 3n) await kv.set(["u"], new U(1n));
          out.push(await outcome(() => sum(key, value)));
        }
        out.push(await outcome(() => sum("num", 1n)));
        out.push(await outcome(() => sum("big", 1)));
        out.push(await outcome(() => sum("u", 1)));
        await kv.set(["s"], "text");
        out.push(await outcome(() => sum("s", 1)));
        out.push(await outcome(() => sum("num", new Uint8Array([1]))));
        out.push(await kv.getMany([["num"], ["big"], ["u"]]));
        return out;
      });
      await same("sum -1n", (kv) => kv.atomic().sum(["u"], -1n));
      await same("sum 2^64", (kv) => kv.atomic().sum(["u"], 2n ** 64n));
      await same("sum of a number", (kv) => kv.atomic().sum(["u"], 1));
      await same("mutate", async (kv) => {
        const U = kv === stores.deno ? Deno.KvU64 : KvU64;
        await kv.atomic().mutate(
          { type: "set", key: ["ms"], value: { a: 1 } },
          { type: "sum", key: ["mu"], value: new U(2n) },
          { type: "delete", key: ["b"] },
        ).commit();
        return await kv.getMany([["ms"], ["mu"], ["b"]]);
      });
      await same(
        "mutate bad type",
        (kv) => kv.atomic().mutate({ type: "nope", key: ["x"] }),
      );
      await same(
        "mutate set without value",
        (kv) => kv.atomic().mutate({ type: "set", key: ["x"] }),
      );
      await same(
        "mutate delete with value",
        (kv) => kv.atomic().mutate({ type: "delete", key: ["x"], value: 1 }),
      );
      await same("commitVersionstamp as last key part", async (kv) => {
        const r = await kv.atomic().set(["log", kv.commitVersionstamp()], "e")
          .commit();
        const entries = await collect(kv.list({ prefix: ["log"] }));
        return entries.map((e: AnyKv) => e.key[1] === r.versionstamp);
      });
      await same(
        "commitVersionstamp elsewhere",
        (kv) =>
          kv.atomic().set(["log", kv.commitVersionstamp(), "x"], 1).commit(),
      );
      await same("await atomic()", async (kv) => await kv.atomic());
    },
  );

  test(
    "KvU64 and inspect output match Deno's",
    async (same, { ours, deno }) => {
      for (const n of [0n, 5n, 2n ** 64n - 1n]) {
        assert.equal(
          Deno.inspect(new KvU64(n)),
          Deno.inspect(new Deno.KvU64(n)),
        );
        assert.equal(String(new KvU64(n)), String(new Deno.KvU64(n)));
        assert.equal(
          Object.prototype.toString.call(new KvU64(n)),
          Object.prototype.toString.call(new Deno.KvU64(n)),
        );
      }
      for (const bad of [-1n, 2n ** 64n, 1]) {
        const mine = await outcome(() => new KvU64(bad as bigint));
        const theirs = await outcome(() => new Deno.KvU64(bad as bigint));
        assert.deepEqual(mine, theirs, String(bad));
      }
      const describe = (kv: AnyKv, U: typeof KvU64) =>
        kv.atomic()
          .check({ key: ["c"], versionstamp: null })
          .set(["a"], { x: 1 }, { expireIn: 5 })
          .sum(["b"], 2n)
          .delete(["d"])
          .mutate({ type: "max", key: ["m"], value: new U(3n) })
          .enqueue("job", { delay: 10, keysIfUndelivered: [["dead"]] });
      assert.equal(
        Deno.inspect(describe(ours, KvU64)),
        Deno.inspect(describe(deno, Deno.KvU64 as unknown as typeof KvU64)),
      );
      assert.equal(
        Deno.inspect(ours.atomic()),
        Deno.inspect(deno.atomic()),
      );
      assert.equal(Deno.inspect(ours), Deno.inspect(deno));
      await same(
        "inspect of an iterator",
        (kv) => Deno.inspect(kv.list({ prefix: [] })),
      );
    },
  );

  test(
    "queues: delivery, retries, keysIfUndelivered, delay and option errors",
    async (same, stores) => {
      await same("delay -1", (kv) => kv.enqueue(1, { delay: -1 }));
      await same(
        "delay > 30 days",
        (kv) => kv.enqueue(1, { delay: 31 * 86400e3 }),
      );
      await same(
        "6 backoff intervals",
        (kv) => kv.enqueue(1, { backoffSchedule: [1, 1, 1, 1, 1, 1] }),
      );
      await same(
        "negative interval",
        (kv) => kv.enqueue(1, { backoffSchedule: [1, -1] }),
      );
      await same("uncloneable message", (kv) => kv.enqueue(() => 1));
      const results = [];
      for (const kv of [stores.ours, stores.deno] as AnyKv[]) {
        const seen: unknown[] = [];
        let attempts = 0;
        const listening = kv.listenQueue((msg: AnyKv) => {
          if (msg.kind === "fail") {
            attempts++;
            throw new Error("expected failure (test)");
          }
          seen.push(msg);
        });
        const start = Date.now();
        await kv.enqueue({ kind: "ok", when: new Date(1), n: 1n });
        await kv.enqueue({ kind: "late" }, { delay: 300 });
        await kv.enqueue({ kind: "fail" }, {
          backoffSchedule: [10, 10],
          keysIfUndelivered: [["dead", 1], ["dead", 2]],
        });
        const dead = await eventually(async () => {
          const [a, b] = await kv.getMany([["dead", 1], ["dead", 2]]);
          return a.value && b.value ? [a.value, b.value] : undefined;
        });
        await eventually(() => seen.length === 2 ? true : undefined);
        const lateAfter = Date.now() - start;
        kv.close();
        await listening;
        results.push({ seen, attempts, dead, lateEnough: lateAfter >= 300 });
      }
      assert.deepEqual(results[0], results[1]);
      assert.equal(results[0].attempts, 3);
    },
  );

  test(
    "watch: a stream of entry arrays that emits on change",
    async (same, stores) => {
      await same(
        "11 keys",
        (kv) => kv.watch(Array.from({ length: 11 }, (_, i) => ["w", i])),
      );
      const runs = [];
      for (const kv of [stores.ours, stores.deno] as AnyKv[]) {
        await kv.set(["w", 1], "one");
        const reader = kv.watch([["w", 1], ["w", 2]]).getReader();
        const first = (await reader.read()).value;
        const writing = (async () => {
          await new Promise((r) => setTimeout(r, 30));
          await kv.set(["w", 2], "two");
        })();
        const second = (await reader.read()).value;
        await writing;
        await reader.cancel();
        runs.push(normalize([first, second]));
      }
      assert.deepEqual(runs[0], runs[1]);
    },
  );

  test(
    "opening, constructing and using a closed store fail like Deno",
    async (same, stores) => {
      for (const path of ["", ":foo"]) {
        const mine = await outcome(() => openKv(path));
        const theirs = await outcome(() => Deno.openKv(path));
        assert.deepEqual(mine, theirs, path);
      }
      const KvClass = stores.ours.constructor as new () => unknown;
      const DenoKv = stores.deno.constructor as new () => unknown;
      const mine = await outcome(() => new KvClass());
      const theirs = await outcome(() => new DenoKv());
      assert.equal(mine.ok, false);
      assert.equal(!mine.ok && mine.type, !theirs.ok && theirs.type);
      await same("close", (kv) => kv.close());
      await same("get after close", (kv) => kv.get(["a"]));
      await same("set after close", (kv) => kv.set(["a"], 1));
      await same("list after close", (kv) => collect(kv.list({ prefix: [] })));
      await same(
        "commit after close",
        (kv) => kv.atomic().set(["a"], 1).commit(),
      );
      await same("close twice", (kv) => kv.close());
      await same("listenQueue after close", (kv) => kv.listenQueue(() => {}));
    },
  );
}
