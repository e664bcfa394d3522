import assert from "node:assert/strict";
import { type KvEntry, openKv } from "./kv.ts";
import { kvContract } from "./_kv_contract.ts";
import { decodeKey, encodeKey, type KvKey, type KvKeyPart } from "./kv_key.ts";
import { until } from "../_poll.ts";

async function tempKv() {
  const dir = await Deno.makeTempDir({ prefix: "krepis-kv-" });
  const kv = await openKv(dir);
  return {
    kv,
    dir,
    async [Symbol.asyncDispose]() {
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

kvContract("embedded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "krepis-kv-contract-" });
  const kv = await openKv(dir);
  return {
    kv,
    dispose: async () => {
      try {
        kv.close();
      } catch { /* the test closed it */ }
      await Deno.remove(dir, { recursive: true });
    },
  };
});

async function collect<T>(
  iter: AsyncIterable<KvEntry<T>>,
): Promise<KvEntry<T>[]> {
  const out: KvEntry<T>[] = [];
  for await (const entry of iter) out.push(entry);
  return out;
}

/** Key parts of every type, including the edge values of each. */
const MIXED: KvKeyPart[] = [
  true,
  false,
  1n,
  -1n,
  0n,
  10n ** 30n,
  -(10n ** 30n),
  255n,
  256n,
  -256n,
  2.5,
  -0,
  0,
  -2.5,
  -Infinity,
  Infinity,
  NaN,
  Number.MIN_VALUE,
  1e300,
  "b",
  "a",
  "",
  "a\0b",
  "é",
  "\u{1F600}",
  new Uint8Array([1]),
  new Uint8Array([]),
  new Uint8Array([0]),
  new Uint8Array([0, 0]),
  new Uint8Array([255]),
];

Deno.test("mixed key types list in the same order as Deno.openKv", async () => {
  await using t = await tempKv();
  const denoKv = await Deno.openKv(":memory:");
  try {
    for (const [i, part] of MIXED.entries()) {
      await t.kv.set(["k", part], i);
      await denoKv.set(["k", part], i);
    }
    const ours = (await collect(t.kv.list<number>({ prefix: ["k"] }))).map((
      e,
    ) => e.value);
    const theirs: number[] = [];
    for await (const e of denoKv.list<number>({ prefix: ["k"] })) {
      theirs.push(e.value);
    }
    assert.equal(ours.length, MIXED.length);
    assert.deepEqual(ours, theirs);
    const reversed = await collect(
      t.kv.list<number>({ prefix: ["k"] }, { reverse: true }),
    );
    assert.deepEqual(reversed.map((e) => e.value), [...theirs].reverse());
  } finally {
    denoKv.close();
  }
});

Deno.test("keys round-trip through the codec", () => {
  for (const part of MIXED) {
    const [back] = decodeKey(encodeKey(["x", part])).slice(1);
    if (typeof part === "number") {
      assert.ok(Object.is(back, part), String(part));
    } else assert.deepEqual(back, part);
  }
  assert.throws(() => encodeKey([{} as unknown as KvKeyPart]), TypeError);
});

Deno.test("set, get, getMany and delete with versionstamps", async () => {
  await using t = await tempKv();
  const { kv } = t;
  const missing = await kv.get(["nope"]);
  assert.deepEqual(missing, { key: ["nope"], value: null, versionstamp: null });
  const first = await kv.set(["users", "ada"], { name: "Ada" });
  const second = await kv.set(["users", "bob"], { name: "Bob" });
  assert.match(first.versionstamp, /^[0-9a-f]{20}$/);
  assert.ok(second.versionstamp > first.versionstamp);
  const ada = await kv.get<{ name: string }>(["users", "ada"]);
  assert.deepEqual(ada, {
    key: ["users", "ada"],
    value: { name: "Ada" },
    versionstamp: first.versionstamp,
  });
  const many = await kv.getMany<[{ name: string }, unknown]>([
    ["users", "bob"],
    ["users", "zed"],
  ]);
  assert.equal(many[0].value?.name, "Bob");
  assert.equal(many[1].value, null);
  await kv.delete(["users", "ada"]);
  assert.equal((await kv.get(["users", "ada"])).value, null);
});

Deno.test("list: prefix, start/end, limit, reverse and cursor", async () => {
  await using t = await tempKv();
  const { kv } = t;
  for (const n of [1, 2, 3, 4, 5]) await kv.set(["n", n], n);
  await kv.set(["n"], "prefix itself");
  await kv.set(["o", 1], "other");
  const values = async (sel: Parameters<typeof kv.list>[0], opts = {}) =>
    (await collect(kv.list<number>(sel, opts))).map((e) => e.value);
  assert.deepEqual(await values({ prefix: ["n"] }), [1, 2, 3, 4, 5]);
  assert.deepEqual(await values({ prefix: ["n"], start: ["n", 3] }), [3, 4, 5]);
  assert.deepEqual(await values({ prefix: ["n"], end: ["n", 3] }), [1, 2]);
  assert.deepEqual(await values({ start: ["n", 2], end: ["n", 4] }), [2, 3]);
  assert.deepEqual(
    await values({ prefix: ["n"] }, { limit: 2, reverse: true }),
    [5, 4],
  );
  const iter = kv.list<number>({ prefix: ["n"] }, { limit: 2 });
  const firstPage = (await collect(iter)).map((e) => e.value);
  assert.deepEqual(firstPage, [1, 2]);
  assert.deepEqual(await values({ prefix: ["n"] }, { cursor: iter.cursor }), [
    3,
    4,
    5,
  ]);
  const back = kv.list<number>({ prefix: ["n"] }, { limit: 2, reverse: true });
  await collect(back);
  assert.deepEqual(
    await values({ prefix: ["n"] }, { cursor: back.cursor, reverse: true }),
    [3, 2, 1],
  );
});

Deno.test("list pages through more entries than one kernel page holds", async () => {
  await using t = await tempKv();
  const big = "v".repeat(50_000);
  for (let i = 0; i < 12; i++) await t.kv.set(["big", i], big);
  const keys = (await collect(t.kv.list({ prefix: ["big"] }))).map((e) =>
    e.key[1]
  );
  assert.deepEqual(keys, Array.from({ length: 12 }, (_, i) => i));
  // Values stored as JSON travel in each page's JSON array: pages split there too.
  const text = "j".repeat(10_000);
  for (let i = 0; i < 30; i++) await t.kv.set(["json", i], { i, text });
  const values = (await collect(t.kv.list<{ i: number; text: string }>({
    prefix: ["json"],
  }))).map((e) => e.value);
  assert.deepEqual(values, Array.from({ length: 30 }, (_, i) => ({ i, text })));
});

Deno.test("atomic: checks guard every mutation", async () => {
  await using t = await tempKv();
  const { kv } = t;
  const a = await kv.set(["a"], 1);
  const failed = await kv.atomic()
    .check({ key: ["a"], versionstamp: a.versionstamp }, {
      key: ["b"],
      versionstamp: "00000000000000000001" + "",
    })
    .set(["b"], 2)
    .delete(["a"])
    .commit();
  assert.deepEqual(failed, { ok: false });
  assert.equal((await kv.get(["a"])).value, 1);
  const ok = await kv.atomic()
    .check({ key: ["a"], versionstamp: a.versionstamp }, {
      key: ["b"],
      versionstamp: null,
    })
    .set(["b"], 2)
    .delete(["a"])
    .commit();
  assert.ok(ok.ok);
  const b = await kv.get(["b"]);
  assert.equal(b.versionstamp, ok.versionstamp);
  assert.equal((await kv.get(["a"])).value, null);
});

Deno.test("expireIn: entries disappear after their time", async () => {
  await using t = await tempKv();
  // Generous times: a loaded machine may pause this test for a while.
  const setAt = Date.now();
  await t.kv.set(["session"], "s", { expireIn: 2_000 });
  await t.kv.set(["kept"], "k", { expireIn: 60_000 });
  assert.equal((await t.kv.get(["session"])).value, "s");
  await until(
    "the session to expire",
    async () => (await t.kv.get(["session"])).value === null,
  );
  assert.ok(Date.now() - setAt >= 2_000, "expired early");
  assert.deepEqual(
    (await collect(t.kv.list({ prefix: [] }))).map((e) => e.key),
    [["kept"]] as KvKey[],
  );
});

Deno.test("check-and-set from 4 concurrent workers loses no update", async () => {
  await using t = await tempKv();
  const rounds = 50;
  const workers = Array.from(
    { length: 4 },
    () =>
      new Worker(new URL("./testdata/kv_counter_worker.ts", import.meta.url), {
        type: "module",
      }),
  );
  // Every worker opens the store first; then all start at once, so their commits race.
  const message = (w: Worker) =>
    new Promise<{ ready?: true; retries?: number }>((resolve, reject) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(e);
    });
  const ready = workers.map(message);
  workers.forEach((w) => w.postMessage({ path: t.dir, rounds }));
  await Promise.all(ready);
  const done = workers.map(message);
  workers.forEach((w) => w.postMessage("go"));
  const results = await Promise.all(done);
  workers.forEach((w) => w.terminate());
  const counter = await t.kv.get<number>(["counter"]);
  assert.equal(counter.value, 4 * rounds);
  console.log(
    `retries per worker: ${results.map((r) => r.retries).join(", ")}`,
  );
});

Deno.test("a second process gets a clear error while the store is open", async () => {
  await using t = await tempKv();
  await t.kv.set(["x"], 1);
  const script = `import { openKv } from ${
    JSON.stringify(new URL("./kv.ts", import.meta.url).href)
  };
try { await openKv(${
    JSON.stringify(t.dir)
  }); console.log("opened"); } catch (e) { console.log(e.code, e.message); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--unstable-kv", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.match(text, /^CONFLICT .*open in another process/);
});
