import assert from "node:assert/strict";
import { Pending, settled } from "./pending.ts";

Deno.test("Pending runs its layers in order, errors going to the next error map", async () => {
  const seen: string[] = [];
  const p = new Pending(Promise.resolve(1))
    .map((v) => {
      seen.push(`inner ${v}`);
      throw new Error("boom");
    })
    .map(() => seen.push("skipped"), (e) => {
      seen.push(`caught ${(e as Error).message}`);
      return 2;
    })
    .map((v) => (v as number) * 10);
  assert.equal(await p.promise(), 20);
  assert.deepEqual(seen, ["inner 1", "caught boom"]);
  // Asking again gives the same promise; awaiting the Pending gives its outcome.
  assert.equal(p.promise(), p.promise());
  assert.equal(await p, 20);
});

Deno.test("Pending: a rejection no layer handles rejects the promise", async () => {
  const p = new Pending(Promise.reject(new Error("down"))).map((v) => v);
  await assert.rejects(p.promise(), /down/);
});

Deno.test("Pending.settleFrom: only the layers outside see the early outcome; the first wins", async () => {
  let release!: (v: unknown) => void;
  const source = new Promise((r) => release = r);
  const seen: string[] = [];
  const p = new Pending(source).map((v) => {
    seen.push("inner");
    return v;
  });
  const depth = p.depth;
  p.map((v) => {
    seen.push(`outer ${v}`);
    return v;
  });
  const outcome = p.promise();
  p.settleFrom(depth, "early");
  p.settleFrom(depth, "again");
  release("late");
  assert.equal(await outcome, "early");
  await source;
  assert.deepEqual(seen, ["outer early"]);
});

Deno.test("Pending.settleFrom before promise(): applied once every layer is in", async () => {
  const p = new Pending(new Promise(() => {})).map(() => "inner");
  p.settleFrom(p.depth, "stopped");
  p.map((v) => `${v}, seen outside`);
  assert.equal(await p.promise(), "stopped, seen outside");
  assert.equal(await settled(3), 3);
});

Deno.test("Pending.into hands the outcome to the caller's own callbacks, once", async () => {
  const p = new Pending(Promise.resolve(4)).map((v) => (v as number) + 1);
  const outcome = await new Promise((resolve, reject) =>
    p.into(resolve, reject)
  );
  assert.equal(outcome, 5);
  assert.throws(() => p.into(() => {}, () => {}), /only once/);
  const failing = new Pending(Promise.reject(new Error("no")));
  await assert.rejects(
    new Promise((resolve, reject) => failing.into(resolve, reject)),
    /no/,
  );
});
