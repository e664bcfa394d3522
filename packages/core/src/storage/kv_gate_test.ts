import assert from "node:assert/strict";
import { Gate } from "./kv_gate.ts";

Deno.test("kv gate: at most `size` calls run at once, the rest start in arrival order", async () => {
  const gate = new Gate(3);
  let running = 0, most = 0;
  const started: number[] = [];
  const calls = Array.from({ length: 12 }, (_, i) =>
    gate.run(async () => {
      started.push(i);
      most = Math.max(most, ++running);
      // Uneven durations: slots free up out of order.
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      running--;
      if (i % 4 === 1) throw new Error(`call ${i} failed`);
      return i;
    }));
  const results = await Promise.allSettled(calls);
  assert.equal(most, 3);
  assert.deepEqual(started, Array.from({ length: 12 }, (_, i) => i));
  results.forEach((r, i) => {
    if (i % 4 === 1) {
      assert.equal(r.status, "rejected");
      assert.equal(
        (r as PromiseRejectedResult).reason.message,
        `call ${i} failed`,
      );
    } else assert.deepEqual(r, { status: "fulfilled", value: i });
  });
  // Failed calls gave their slots back: three run at once again.
  running = 0, most = 0;
  await Promise.all(Array.from({ length: 3 }, () =>
    gate.run(async () => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
    })));
  assert.equal(most, 3);
});
