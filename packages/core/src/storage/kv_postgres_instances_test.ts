import assert from "node:assert/strict";
import { type KvU64, openKv } from "./kv.ts";
import { startPostgres } from "./_pg_server.ts";
import { until } from "../_poll.ts";

const INSTANCE = new URL("./_kv_pg_instance.ts", import.meta.url).pathname;

function instance(...args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", INSTANCE, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

/** Polls `ok` (generously: child processes start slowly on a loaded machine). */
const waitFor = (what: string, ok: () => Promise<boolean>) =>
  until(what, ok, { timeoutMs: 120_000, everyMs: 200 });

Deno.test("kv postgres: 4 processes × 500 check+set increments give exactly 2000", async () => {
  await using server = await startPostgres();
  const url = await server.freshDatabase();
  const children = [0, 1, 2, 3].map(() => instance("count", url, "500"));
  const outputs = await Promise.all(children.map((c) => c.output()));
  const retries = outputs.map((o) => {
    assert.ok(o.success, "an instance failed");
    return JSON.parse(new TextDecoder().decode(o.stdout)).retries as number;
  });
  using kv = await openKv(url);
  const counter = await kv.get<KvU64>(["counter"]);
  assert.equal(counter.value?.value, 2000n);
  console.log(`lost races retried: ${retries.join(", ")}`);
});

Deno.test("kv postgres: 4 consumers, one SIGKILLed midway, handle all 1000 messages", async () => {
  await using server = await startPostgres();
  const url = await server.freshDatabase();
  using kv = await openKv(url);
  for (let batch = 0; batch < 1000; batch += 50) {
    const atomic = kv.atomic();
    for (let i = batch; i < batch + 50; i++) atomic.enqueue(i);
    assert.ok((await atomic.commit()).ok);
  }
  const consumers = [0, 1, 2, 3].map(() => instance("consume", url));
  const seen = async () => {
    const counts = new Map<number, bigint>();
    for await (const e of kv.list<KvU64>({ prefix: ["seen"] })) {
      counts.set(e.key[1] as number, e.value.value);
    }
    return counts;
  };
  try {
    await waitFor(
      "a third of the messages",
      async () => (await seen()).size >= 300,
    );
    consumers[0].kill("SIGKILL");
    assert.equal((await consumers[0].status).signal, "SIGKILL");
    await waitFor("every message", async () => (await seen()).size === 1000);
  } finally {
    // A consumer that already exited (a failure above says why) needs no kill.
    for (const c of consumers.slice(1)) {
      try {
        c.kill("SIGKILL");
      } catch { /* exited */ }
    }
    await Promise.all(consumers.map((c) => c.status));
    await Promise.all(consumers.map((c) => c.stdout.cancel()));
  }
  const counts = await seen();
  const duplicates = [...counts.values()].reduce(
    (n, c) => n + Number(c - 1n),
    0,
  );
  for (let i = 0; i < 1000; i++) {
    assert.ok(counts.get(i)! >= 1n, `message ${i}`);
  }
  // At-least-once: only messages the killed consumer had handled but not yet
  // acknowledged come twice — at most the 100 a listener handles at once.
  assert.ok(duplicates <= 100, `${duplicates} duplicates`);
  console.log(`handled 1000 messages, duplicates: ${duplicates}`);
});

Deno.test("kv postgres: a handler outliving its lease keeps the message; a killed one's is redelivered", async () => {
  await using server = await startPostgres();
  // Leases of 2 s (renewed every 667 ms), so the handler below runs for 4 of them.
  const url = `${await server.freshDatabase()}?krepis_lease_ms=2000`;
  using kv = await openKv(url);
  const count = async (part: string, n: number) =>
    (await kv.get<KvU64>([part, n])).value?.value ?? 0n;
  const slow = instance("slow", url, "8000");
  let consumer: Deno.ChildProcess | undefined;
  try {
    await kv.atomic().enqueue(1).enqueue(2).commit();
    await waitFor(
      "the slow instance to take both messages",
      async () =>
        (await count("started", 1)) + (await count("started", 2)) === 2n,
    );
    // A second process listens while the slow one's handlers run past their leases.
    consumer = instance("consume", url);
    await waitFor(
      "message 1's handler to finish",
      async () => (await count("done", 1)) === 1n,
    );
    assert.equal(
      await count("seen", 1),
      0n,
      "message 1 went to a second instance",
    );
    assert.equal(
      await count("seen", 2),
      0n,
      "message 2 went to a second instance",
    );
    assert.equal(await count("started", 1), 1n);
    // The slow instance dies holding message 2: its lease runs out and the other
    // instance gets it.
    slow.kill("SIGKILL");
    await waitFor(
      "message 2 to be redelivered",
      async () => (await count("seen", 2)) === 1n,
    );
    assert.equal(await count("seen", 1), 0n, "a finished message came again");
  } finally {
    for (const c of [slow, consumer]) {
      if (!c) continue;
      try {
        c.kill("SIGKILL");
      } catch { /* exited */ }
      await c.status;
      await c.stdout.cancel();
    }
  }
});
