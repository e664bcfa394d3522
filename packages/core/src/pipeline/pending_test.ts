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

Deno.test("Pending.layer: an object layer takes its place among the maps, values to ok, errors to err", async () => {
  const seen: string[] = [];
  const layer = {
    ok(v: unknown) {
      seen.push(`ok ${v}`);
      throw new Error("from ok");
    },
    err(e: unknown) {
      seen.push(`err ${(e as Error).message}`);
      return 3;
    },
  };
  const p = new Pending(Promise.resolve(1))
    .layer(layer) // ok 1, throws
    .map(undefined, (e) => {
      seen.push(`caught ${(e as Error).message}`);
      throw new Error("again");
    })
    .layer(layer) // err again -> 3
    .map((v) => (v as number) * 10);
  assert.equal(await p.promise(), 30);
  assert.deepEqual(seen, ["ok 1", "caught from ok", "err again"]);
  // A layer counts in the depth an early settlement starts from, as a map pair does.
  let release!: (v: unknown) => void;
  const late = new Pending(new Promise((r) => release = r)).layer(layer);
  const depth = late.depth;
  late.map((v) => `outer ${v}`);
  late.settleFrom(depth, "early");
  seen.length = 0;
  assert.equal(await late.promise(), "outer early");
  release(1);
  await new Promise((r) => setTimeout(r, 0)); // the source's settlement has run
  assert.deepEqual(seen, [], "the inner layer never saw either outcome");
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

Deno.test("Pending.to: the outcome goes to the target's ok or err once, an early settlement first, and it is followed only once", async () => {
  const outcomes: string[] = [];
  const target = (name: string) => ({
    ok: (v: unknown) => void outcomes.push(`${name} ok ${v}`),
    err: (e: unknown) =>
      void outcomes.push(`${name} err ${(e as Error).message}`),
  });
  const turn = () => new Promise((r) => setTimeout(r, 0));

  // A value through the layers, and an error that no layer maps.
  const value = new Pending(Promise.resolve(2)).map((v) => (v as number) + 1);
  value.to(target("value"));
  const failure = new Pending(Promise.reject(new Error("down")));
  failure.to(target("failure"));
  // A layer's throw becomes the error.
  const thrown = new Pending(Promise.resolve(1)).map(() => {
    throw new Error("from a layer");
  });
  thrown.to(target("thrown"));
  assert.deepEqual(outcomes, [], "nothing before the source settles");
  await turn();
  assert.deepEqual(outcomes, [
    "value ok 3",
    "failure err down",
    "thrown err from a layer",
  ]);

  // Settled early before it is followed: the early value, applied when followed; the
  // source's late outcome is not handed over again.
  outcomes.length = 0;
  let release!: (v: unknown) => void;
  const early = new Pending(new Promise((r) => release = r));
  early.settleFrom(early.depth, "early");
  early.to(target("early"));
  assert.deepEqual(outcomes, ["early ok early"]);
  release("late");
  await turn();
  assert.deepEqual(outcomes, ["early ok early"]);

  // Followed once only, by either way.
  assert.throws(() => early.to(target("again")), /followed only once/);
  assert.throws(() => early.into(() => {}, () => {}), /followed only once/);
  const viaInto = new Pending(Promise.resolve(1));
  viaInto.into(() => {}, () => {});
  assert.throws(() => viaInto.to(target("again")), /followed only once/);
});
