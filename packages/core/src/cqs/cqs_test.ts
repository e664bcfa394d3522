import assert from "node:assert/strict";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { type } from "arktype";
import * as v from "valibot";
import { z } from "zod";
import { definePort } from "../di/port.ts";
import { CqsViolationError, readOnlyView } from "../di/readonly.ts";
import { createContext, type KrepisContext } from "../context/context.ts";
import { ok } from "../result/result.ts";
import { defineCommand, defineQuery } from "./handler.ts";
import { validateInput } from "./validate.ts";

// Compile-time proof that handlers take any Standard Schema (a type error fails
// `deno check`/`deno test`).
const asSpec = (
  s: StandardSchemaV1<{ a: string }>,
): StandardSchemaV1<{ a: string }> => s;

Deno.test("zod and valibot schemas are Standard Schemas", () => {
  const zs = z.object({ a: z.string() });
  const vs = v.object({ a: v.string() });
  assert.equal(asSpec(zs)["~standard"].vendor, "zod");
  assert.equal(asSpec(vs)["~standard"].vendor, "valibot");
});

Deno.test("validateInput returns the parsed value or INVALID_INPUT with paths (zod)", async () => {
  const schema = z.object({
    title: z.string().min(1),
    tags: z.array(z.string()).default([]),
    meta: z.object({ priority: z.coerce.number().int() }),
  });
  const good = await validateInput("create", schema, {
    title: "x",
    meta: { priority: "3" },
  });
  assert.deepEqual(good, {
    ok: true,
    value: { title: "x", tags: [], meta: { priority: 3 } },
  });
  const bad = await validateInput("create", schema, {
    title: "",
    meta: { priority: "high" },
  });
  assert.ok(!bad.ok);
  assert.equal(bad.error.code, "INVALID_INPUT");
  assert.equal(bad.error.status, 400);
  assert.match(bad.error.message, /invalid input for "create"/);
  const issues = (bad.error.details as { issues: { path: string }[] }).issues;
  assert.deepEqual(issues.map((i) => i.path).sort(), [
    "meta.priority",
    "title",
  ]);
});

Deno.test("validateInput works with valibot, including async pipelines", async () => {
  const schema = v.object({ n: v.pipe(v.number(), v.minValue(1)) });
  assert.deepEqual(await validateInput("q", schema, { n: 2 }), {
    ok: true,
    value: { n: 2 },
  });
  const bad = await validateInput("q", schema, { n: 0 });
  assert.ok(!bad.ok);
  assert.equal(
    (bad.error.details as { issues: { path: string }[] }).issues[0].path,
    "n",
  );

  const taken = new Set(["ada"]);
  const asyncSchema = v.pipeAsync(
    v.string(),
    v.checkAsync(async (name) => {
      await new Promise((r) => setTimeout(r, 1));
      return !taken.has(name);
    }, "name taken"),
  );
  const pending = validateInput("register", asyncSchema, "ada");
  assert.ok(pending instanceof Promise, "async validators yield a promise");
  const r = await pending;
  assert.ok(!r.ok);
  assert.equal(
    (r.error.details as { issues: { message: string }[] }).issues[0].message,
    "name taken",
  );
});

Deno.test("validateInput works with arktype", async () => {
  const schema = type({ name: "string > 0", "age?": "number.integer >= 0" });
  assert.deepEqual(await validateInput("person", schema, { name: "ada" }), {
    ok: true,
    value: { name: "ada" },
  });
  const bad = await validateInput("person", schema, { name: "", age: 1.5 });
  assert.ok(!bad.ok);
  const paths = (bad.error.details as { issues: { path: string }[] }).issues
    .map((i) => i.path).sort();
  assert.deepEqual(paths, ["age", "name"]);
});

Deno.test("validateInput without a schema yields undefined input", async () => {
  assert.deepEqual(await validateInput("x", undefined, { ignored: true }), {
    ok: true,
    value: undefined,
  });
});

Deno.test("defineCommand/defineQuery set kind, defaults and keep the spec", () => {
  const Repo = definePort<{ get(ctx: KrepisContext): number }>("repo", {
    writes: [],
  });
  const c = defineCommand({
    name: "c",
    input: z.object({ n: z.number() }),
    deps: { repo: Repo },
    skip: ["auth"],
    timeoutMs: 5,
    handle: (ctx, input, { repo }) => ok(input.n + repo.get(ctx)),
  });
  assert.equal(c.kind, "command");
  assert.deepEqual(c.skip, ["auth"]);
  assert.equal(c.timeoutMs, 5);
  assert.equal(c.deps.repo, Repo);
  const q = defineQuery({ name: "q", handle: () => ok(1) });
  assert.equal(q.kind, "query");
  assert.deepEqual(q.deps, {});
  assert.deepEqual(q.skip, []);
  assert.ok(Object.isFrozen(q));
  assert.throws(
    () => defineQuery({ name: "", handle: () => ok(1) }),
    /needs a name/,
  );
});

Deno.test("ports that name their writes in the type hide them from queries at compile time", () => {
  interface Store {
    get(ctx: KrepisContext): number;
    set(ctx: KrepisContext, n: number): void;
  }
  const Typed = definePort<Store, "set">("store", { writes: ["set"] });
  const Untyped = definePort<Store>("store", { writes: ["set"] });
  // @ts-expect-error: only write methods of Store may be listed for a typed port
  definePort<Store, "set">("store", { writes: ["get"] });
  const show = defineQuery({
    name: "show",
    deps: { typed: Typed, untyped: Untyped },
    handle(ctx, _input, { typed, untyped }) {
      // @ts-expect-error: a query's view of a typed port has no write method
      const write: unknown = typed.set;
      // Without the type argument the method is visible and guarded at run time only.
      untyped.set.bind(untyped);
      return ok({ value: typed.get(ctx), hidden: write === undefined });
    },
  });
  const change = defineCommand({
    name: "change",
    deps: { typed: Typed },
    handle(ctx, _input, { typed }) {
      typed.set(ctx, 2); // commands see the whole interface
      return ok(undefined);
    },
  });
  let n = 1;
  const store: Store = { get: () => n, set: (_ctx, v) => void (n = v) };
  const view = readOnlyView(store, Typed, "show");
  // The run-time guard stays: the type only moves the error earlier.
  assert.throws(() => view.set(createContext(), 3), CqsViolationError);
  assert.equal(show.kind, "query");
  assert.ok(change.handle(createContext(), undefined, { typed: store }));
  assert.equal(n, 2);
});
