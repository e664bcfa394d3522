import assert from "node:assert/strict";
import { DeadlineWatch } from "./deadline_watch.ts";

Deno.test("the watch expires due operations in deadline order, never finished ones", async () => {
  const watch = new DeadlineWatch();
  const expired: string[] = [];
  const all = Promise.withResolvers<void>();
  const op = (name: string, inMs: number) => ({
    deadline: Date.now() + inMs,
    expire() {
      expired.push(name);
      if (expired.length === 2) all.resolve();
    },
  });
  const late = op("late", 60);
  const early = op("early", 20);
  const finished = op("finished", 10);
  watch.add(late);
  watch.add(early); // earlier than the armed timer: re-arms
  watch.add(finished);
  watch.delete(finished);
  assert.equal(watch.size, 2);
  await all.promise;
  assert.deepEqual(expired, ["early", "late"]);
  assert.equal(watch.size, 0);
});

Deno.test("an idle watch does not keep the test (or process) alive", () => {
  const watch = new DeadlineWatch();
  const op = { deadline: Date.now() + 60_000, expire() {} };
  watch.add(op);
  watch.delete(op);
  // The 60 s timer is still armed but unref'd: the op sanitizer and the event loop ignore it.
});
