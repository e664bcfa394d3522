import assert from "node:assert/strict";
import { openKv } from "./kv.ts";

const KILLS = Number(Deno.env.get("KREPIS_KV_CRASH_KILLS") ?? 100);
const child = new URL("./testdata/kv_crash_child.ts", import.meta.url).pathname;

/**
 * Runs the crash child with `args`, SIGKILLs it `afterMs` after it is ready (after its
 * first acknowledgement with `afterFirst`, so a slow start on a loaded machine still
 * ends mid-write), and returns the lines it printed (what it acknowledged).
 */
async function runAndKill(
  args: string[],
  afterMs: number,
  afterFirst = false,
): Promise<string[]> {
  const proc = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-check", child, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((r) => ready = r);
  let acked!: () => void;
  const isAcked = new Promise<void>((r) => acked = r);
  const reading = (async () => {
    let rest = "";
    for await (
      const chunk of proc.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        if (line === "ready") ready();
        else lines.push(line), acked();
      }
    }
  })();
  // A child that never acknowledges (a consumer with nothing left) is killed anyway.
  let giveUp: ReturnType<typeof setTimeout> | undefined;
  const patience = new Promise((r) => giveUp = setTimeout(r, 20_000));
  await Promise.race([afterFirst ? isAcked : isReady, proc.status, patience]);
  clearTimeout(giveUp);
  await new Promise((r) => setTimeout(r, afterMs));
  try {
    proc.kill("SIGKILL");
  } catch { /* exited already: its status says how */ }
  const status = await proc.status;
  await reading;
  assert.equal(status.signal, "SIGKILL", `child ${args[0]} was not killed`);
  // A line cut by the kill was never acknowledged in full.
  return lines;
}

Deno.test({
  name:
    `a child committing check+set increments, SIGKILLed ${KILLS}× at random points, loses no acknowledged increment and applies none twice`,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "krepis-kv-crash-" });
    try {
      const acked = new Set<number>();
      for (let kill = 0; kill < KILLS; kill++) {
        const lines = await runAndKill(
          ["count", dir],
          Math.random() * 40,
          true,
        );
        for (const line of lines) acked.add(Number(line.split(" ")[0]));
      }
      using kv = await openKv(dir);
      const counter = (await kv.get<number>(["counter"])).value ?? 0;
      const logged: number[] = [];
      for await (const e of kv.list({ prefix: ["log"] })) {
        logged.push(e.key[1] as number);
      }
      // Each n is written once by the commit that raised the counter to n.
      assert.deepEqual(
        logged,
        Array.from({ length: counter }, (_, i) => i + 1),
      );
      const lost = [...acked].filter((n) => n > counter);
      assert.deepEqual(lost, [], "acknowledged increments lost");
      assert.ok(acked.size >= KILLS, "every child acknowledged commits");
      console.log(
        `${KILLS} kills while committing; ${acked.size} acknowledged, counter ${counter}, none lost`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "queue messages acknowledged before a SIGKILL are all delivered after restarts",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "krepis-kv-qcrash-" });
    try {
      const acked = new Set<string>();
      for (let round = 0; round < 5; round++) {
        // Killed after its first acknowledgement: timed from "ready" alone, a loaded CI
        // machine let all five producers die before they enqueued anything.
        const lines = await runAndKill(
          ["enqueue", dir, `r${round}`],
          Math.random() * 60,
          true,
        );
        lines.forEach((id) => acked.add(id));
      }
      // Consumers killed while handling (after their first message): what they had
      // taken but not finished comes back on the next start.
      let handledByKilled = 0;
      for (let round = 0; round < 3; round++) {
        const lines = await runAndKill(
          ["consume", dir],
          Math.random() * 30,
          true,
        );
        handledByKilled += lines.length;
      }
      assert.ok(handledByKilled > 0, "no killed consumer handled a message");
      using kv = await openKv(dir);
      const missing = async () => {
        const left = [];
        for (const id of acked) {
          if ((await kv.get(["done", id])).value !== true) left.push(id);
        }
        return left;
      };
      const listening = kv.listenQueue(async (message) => {
        await kv.set(["done", (message as { id: string }).id], true);
      });
      const deadline = Date.now() + 60_000;
      let left = await missing();
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        left = await missing();
      }
      kv.close();
      await listening;
      assert.ok(acked.size > 0, "no message was acknowledged");
      assert.deepEqual(left, [], "acknowledged messages never delivered");
      console.log(
        `${acked.size} acknowledged messages from 5 killed producers, ${handledByKilled} handled by 3 killed consumers, all delivered`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
