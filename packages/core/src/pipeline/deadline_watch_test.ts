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

Deno.test("an expiry that ends or adds other operations leaves the watch consistent", async () => {
  const watch = new DeadlineWatch();
  const expired: string[] = [];
  const done = Promise.withResolvers<void>();
  const now = Date.now();
  const later = {
    deadline: now + 40,
    expire() {
      expired.push("later");
      done.resolve();
    },
  };
  const second = { deadline: now + 5, expire: () => expired.push("second") };
  const first = {
    deadline: now + 5,
    expire() {
      expired.push("first");
      watch.delete(second); // due in the same check: must not expire any more
      watch.add(later); // added while the check runs: still expires on time
    },
  };
  watch.add(second);
  watch.add(first); // the head of the list: checked first
  watch.add(first); // adding a watched operation again changes nothing
  assert.equal(watch.size, 2);
  await done.promise;
  assert.deepEqual(expired, ["first", "later"]);
  assert.equal(watch.size, 0);
});
