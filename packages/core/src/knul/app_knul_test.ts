import assert from "node:assert/strict";
import { z } from "zod";
import { createApp } from "../app/create_app.ts";
import { createContext, type KrepisContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { until } from "../_poll.ts";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { AppError } from "../result/app_error.ts";
import { err, ok } from "../result/result.ts";
import { testCerts } from "../_certs.ts";
import { testClient } from "./_testing.ts";
import { serveKnul } from "./server.ts";
import { KnulError, KnulStatus } from "./status.ts";

const log = memorySink("error");
const todos = new Map<number, string>();
const addTodo = defineCommand({
  name: "todos.add",
  input: z.object({ id: z.number().int(), title: z.string().min(1) }),
  handle: (_ctx, { id, title }) => {
    todos.set(id, title);
    return ok({ id, title });
  },
});
const getTodo = defineQuery({
  name: "todos.get",
  input: z.object({ id: z.number().int() }),
  handle: (_ctx, { id }) => {
    const title = todos.get(id);
    return title === undefined
      ? err(new AppError("NOT_FOUND", `no todo ${id}`))
      : ok({ id, title });
  },
});

Deno.test("knul: createApp serves its commands and queries by name, typed client", async () => {
  const certs = await testCerts();
  await using app = createApp({ commands: [addTodo], queries: [getTodo], log });
  await using server = await app.serveKnul({
    cert: certs.cert,
    key: certs.key,
  });
  await using client = await testClient(server.addr.port);
  const api = client.typed<
    { "todos.add": typeof addTodo; "todos.get": typeof getTodo }
  >();
  const ctx = createContext({ log });
  const added = await api.call(ctx, "todos.add", { id: 1, title: "milk" });
  assert.deepEqual(added, { id: 1, title: "milk" });
  const got = await api.call(ctx, "todos.get", { id: 1 }, { idempotent: true });
  assert.equal(got.title, "milk");
  // @ts-expect-error: the typed client checks inputs against the handler's schema type
  const bad = api.call(ctx, "todos.add", { id: "x" });
  await bad.then(
    () => assert.fail("invalid input must be refused"),
    (e: KnulError) => {
      assert.equal(e.code, KnulStatus.INVALID_ARGUMENT);
      assert.equal(e.errorCode, "INVALID_INPUT");
      assert.ok(Array.isArray((e.details as { issues: unknown[] }).issues));
    },
  );
  await api.call(ctx, "todos.get", { id: 404 }).then(
    () => assert.fail("missing todo"),
    (e: KnulError) => assert.equal(e.status, "NOT_FOUND"),
  );
});

Deno.test("knul: three hops A → B → C propagate the trace and a shrinking deadline", async () => {
  const certs = await testCerts();
  const seen: Record<string, { trace: string; parent?: string; left: number }> =
    {};
  let cAborted = false;
  let cStarted = false;
  await using c = await serveKnul({ cert: certs.cert, key: certs.key, log }, {
    "c.work": (ctx: KrepisContext) => {
      seen.c = {
        trace: ctx.traceId,
        parent: ctx.parentSpanId,
        left: ctx.remainingMs(),
      };
      return "done";
    },
    "c.slow": (ctx: KrepisContext) => {
      cStarted = true;
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve("finished"), 10_000);
        ctx.signal.addEventListener("abort", () => {
          cAborted = true;
          clearTimeout(timer);
          resolve("aborted");
        });
      });
    },
  });
  await using toC = await testClient(c.addr.port);
  await using b = await serveKnul({ cert: certs.cert, key: certs.key, log }, {
    "b.relay": async (ctx: KrepisContext, { method }) => {
      seen.b = { trace: ctx.traceId, left: ctx.remainingMs() };
      // Some work at B, so the budget visibly shrinks before the next hop.
      await new Promise((r) => setTimeout(r, 30));
      return await toC.call(ctx, method, null);
    },
  });
  await using toB = await testClient(b.addr.port);
  // A budget no loaded machine uses up: the hops must shrink it, not run out of it.
  const a = createContext({ log, deadline: Date.now() + 30_000 });
  assert.equal(await toB.call(a, "b.relay", { method: "c.work" }), "done");
  assert.equal(seen.b.trace, a.traceId);
  assert.equal(seen.c.trace, a.traceId, "C sees the original trace id");
  assert.ok(seen.c.parent && seen.c.parent !== a.spanId);
  assert.ok(seen.b.left <= 30_000 && seen.b.left > 0);
  assert.ok(seen.c.left < seen.b.left, `${seen.c.left} < ${seen.b.left}`);

  // A deadline that runs out while B waits on C stops C's work. Long enough for the call
  // to reach C on a loaded machine: a call whose budget is gone never starts there.
  const short = createContext({ log, deadline: Date.now() + 2_000 });
  await toB.call(short, "b.relay", { method: "c.slow" }).then(
    () => assert.fail("must time out"),
    (e: KnulError) => assert.equal(e.status, "DEADLINE_EXCEEDED"),
  );
  assert.ok(cStarted);
  await until("C's ctx.signal aborted", () => cAborted);
  await until(
    "no call in flight at B and C",
    () => c.stats().inFlight === 0 && b.stats().inFlight === 0,
  );
  assert.equal(c.stats().inFlight, 0);
  assert.equal(b.stats().inFlight, 0);
});
