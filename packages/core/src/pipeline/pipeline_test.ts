import assert from "node:assert/strict";
import { defineCapability } from "../context/capability.ts";
import { createContext, type KrepisContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { CqsViolationError } from "../di/readonly.ts";
import { AppError } from "../result/app_error.ts";
import { err, ok, type Result } from "../result/result.ts";
import { auth } from "./auth.ts";
import { compose, defineBehavior, type Next } from "./behavior.ts";
import { errors, toAppError } from "./errors.ts";
import { settled } from "./pending.ts";
import { timeout } from "./timeout.ts";
import { tracing } from "./tracing.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

const q = defineQuery({ name: "q", handle: () => ok(1) });
const terminal = (fn: (ctx: KrepisContext) => unknown): Next => async (ctx) =>
  ok(await fn(ctx));

Deno.test("compose runs behaviors outermost first and honours skip", async () => {
  const seen: string[] = [];
  const mark = (name: string) =>
    defineBehavior(name, async (ctx, _h, input, next) => {
      seen.push(`>${name}`);
      const r = await next(ctx, input);
      seen.push(`<${name}`);
      return r;
    });
  const behaviors = [mark("a"), mark("b"), mark("c")];
  await compose(behaviors, q, terminal(() => seen.push("handler")))(
    createContext(),
    undefined,
  );
  assert.deepEqual(seen, [">a", ">b", ">c", "handler", "<c", "<b", "<a"]);
  seen.length = 0;
  const skipping = defineQuery({ name: "s", skip: ["b"], handle: () => ok(1) });
  await compose(behaviors, skipping, terminal(() => seen.push("handler")))(
    createContext(),
    undefined,
  );
  assert.deepEqual(seen, [">a", ">c", "handler", "<c", "<a"]);
});

Deno.test("errors maps thrown values to AppError results and logs internals", async () => {
  const sink = memorySink();
  const ctx = createContext({ log: sink });
  const run = (thrown: unknown) =>
    compose([errors()], q, () => Promise.reject(thrown))(ctx, undefined);

  const internal = await run(new Error("db password wrong"));
  assert.ok(!internal.ok);
  assert.equal(internal.error.code, "INTERNAL");
  assert.equal(
    internal.error.message,
    "internal error",
    "internals are not exposed",
  );
  assert.equal(sink.records()[0].level, "error");
  assert.match(JSON.stringify(sink.records()[0].error), /db password wrong/);

  const app = await run(new AppError("CONFLICT", "dup"));
  assert.ok(!app.ok && app.error.code === "CONFLICT");
  const cqs = await run(new CqsViolationError("q", "repo", "save"));
  assert.ok(
    !cqs.ok && /query "q" called write method "save"/.test(cqs.error.message),
  );
  assert.equal(
    toAppError(new DOMException("x", "AbortError")).code,
    "CANCELLED",
  );
  assert.equal(
    toAppError(new DOMException("x", "TimeoutError")).code,
    "TIMEOUT",
  );
  assert.equal(toAppError("a string").code, "INTERNAL");
});

Deno.test("errors: a synchronous throw and a plain (non-promise) answer from inside", async () => {
  const ctx = createContext({ log: memorySink() });
  const thrown = await compose([errors()], q, () => {
    throw new AppError("CONFLICT", "sync");
  })(ctx, undefined);
  assert.ok(!thrown.ok && thrown.error.message === "sync");
  const plain = defineBehavior(
    "plain",
    () => ok(7) as unknown as Promise<Result<unknown>>,
  );
  const answered = await compose([errors(), plain], q, () => {
    throw new Error("not reached");
  })(ctx, undefined);
  assert.deepEqual(answered, ok(7));
});

Deno.test("tracing opens a child span and logs the outcome with the trace ids", async () => {
  const sink = memorySink();
  const ctx = createContext({ traceId: TRACE, spanId: SPAN, log: sink });
  let inner: KrepisContext | undefined;
  const run = compose([tracing()], q, terminal((c) => (inner = c, 1)));
  await run(ctx, undefined);
  assert.equal(inner!.parentSpanId, SPAN);
  assert.equal(inner!.name, "q");
  const [rec] = sink.records();
  assert.equal(rec.msg, "operation completed");
  assert.equal(rec.traceId, TRACE);
  assert.equal(rec.spanId, inner!.spanId);
  assert.equal(rec.op, "q");
  assert.equal(typeof rec.durationMs, "number");

  const failing = compose(
    [tracing()],
    q,
    () => Promise.resolve(err(new AppError("NOT_FOUND", "nope"))),
  );
  await failing(ctx, undefined);
  const rec2 = sink.records()[1];
  assert.equal(rec2.level, "warn");
  assert.equal(rec2.code, "NOT_FOUND");

  const throwing = compose(
    [tracing()],
    q,
    () => Promise.reject(new Error("boom")),
  );
  await assert.rejects(async () => await throwing(ctx, undefined), /boom/);
  const rec3 = sink.records()[2];
  assert.equal(rec3.msg, "operation threw");
  assert.equal(rec3.traceId, TRACE);
});

Deno.test("tracing with only failures logged records each failure, and no success", async () => {
  const sink = memorySink("warn");
  const ctx = createContext({ traceId: TRACE, log: sink });
  const slowFailure = compose([tracing()], q, async () => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return err(new AppError("NOT_FOUND", "nope"));
  });
  await compose([tracing()], q, () => ok(1))(ctx, undefined);
  await compose([tracing()], q, terminal(() => 1))(ctx, undefined);
  assert.equal(sink.records().length, 0);
  await slowFailure(ctx, undefined);
  await assert.rejects(
    async () =>
      await compose([tracing()], q, () => {
        throw new Error("boom");
      })(ctx, undefined),
    /boom/,
  );
  const [failed, threw] = sink.records();
  assert.equal(failed.msg, "operation failed");
  assert.equal(failed.code, "NOT_FOUND");
  assert.equal(failed.traceId, TRACE);
  // Taken from the wall clock in this mode: whole milliseconds, and the 20 ms waited.
  assert.ok(Number.isInteger(failed.durationMs));
  assert.ok((failed.durationMs as number) >= 15, `${failed.durationMs}`);
  assert.equal(threw.msg, "operation threw");
  assert.equal(threw.level, "error");
});

Deno.test("timeout aborts the handler's signal and answers TIMEOUT without waiting", async () => {
  const slow = defineCommand({
    name: "slow",
    timeoutMs: 30,
    handle: () => ok(1),
  });
  let handlerSignal: AbortSignal | undefined;
  let release!: () => void;
  const stuck = new Promise<void>((r) => release = r);
  const run = compose([timeout({ ms: 10_000 })], slow, async (ctx) => {
    handlerSignal = ctx.signal;
    await stuck; // ignores the signal on purpose
    return ok(1);
  });
  const started = performance.now();
  const r = await run(createContext(), undefined);
  const elapsed = performance.now() - started;
  assert.ok(!r.ok && r.error.code === "TIMEOUT");
  assert.equal(r.error.status, 504);
  // The command's 30 ms, not the middleware's 10 s: half of that is room for a loaded
  // machine's late timers.
  assert.ok(elapsed < 5_000, `answered after ${elapsed} ms`);
  assert.equal(handlerSignal!.aborted, true);
  assert.equal((handlerSignal!.reason as DOMException).name, "TimeoutError");
  release();
});

Deno.test("timeout respects an earlier context deadline and sets it on the context", async () => {
  let seen: KrepisContext | undefined;
  const run = compose(
    [timeout({ ms: 60_000 })],
    q,
    terminal((c) => (seen = c)),
  );
  const deadline = Date.now() + 5_000;
  await run(createContext({ deadline }), undefined);
  assert.equal(seen!.deadline, deadline);
  const late = await run(
    createContext({ deadline: Date.now() - 1 }),
    undefined,
  );
  assert.ok(!late.ok && late.error.code === "TIMEOUT");
});

Deno.test("cancellation of the caller's signal reaches the handler", async () => {
  const outer = new AbortController();
  const observed = Promise.withResolvers<unknown>();
  const run = compose([timeout()], q, (ctx) => {
    ctx.signal.addEventListener(
      "abort",
      () => observed.resolve(ctx.signal.reason),
    );
    return new Promise<Result<unknown>>(() => {}); // never settles by itself
  });
  const pending = run(createContext({ signal: outer.signal }), undefined);
  outer.abort(new DOMException("client gone", "AbortError"));
  const r = await pending;
  assert.ok(!r.ok && r.error.code === "CANCELLED");
  assert.equal(r.error.status, 499);
  assert.equal(
    ((await observed.promise) as DOMException).message,
    "client gone",
  );

  const already = await run(createContext({ signal: outer.signal }), undefined);
  assert.ok(!already.ok && already.error.code === "CANCELLED");
});

Deno.test("the caller's signal is only read when the handler reads its own", async () => {
  let reads = 0;
  const outer = new AbortController();
  const source = () => (reads++, outer.signal);
  const ignoring = compose([timeout()], q, terminal(() => 1));
  await ignoring(createContext({ signal: source }), undefined);
  assert.equal(
    reads,
    0,
    "a handler that never looks at ctx.signal costs no signal",
  );
  const watching = compose(
    [timeout()],
    q,
    terminal((ctx) => ctx.signal.aborted),
  );
  assert.deepEqual(
    await watching(createContext({ signal: source }), undefined),
    {
      ok: true,
      value: false,
    },
  );
  assert.equal(reads, 1);
});

Deno.test("timeout: a handler answering at once is stopped by an aborted caller only once it reads its signal", () => {
  const gone = new AbortController();
  gone.abort(new DOMException("client gone", "AbortError"));
  const live = new AbortController().signal;
  const reading = compose([timeout()], q, (ctx) => ok(ctx.signal.aborted));
  const stopped = reading(
    createContext({ signal: gone.signal }),
    undefined,
  ) as Result<unknown>;
  assert.ok(!stopped.ok && stopped.error.code === "CANCELLED");
  assert.deepEqual(
    reading(createContext({ signal: live }), undefined),
    ok(false),
  );
  // A handler that never looks at its signal answers (or throws) as it did.
  const blind = compose([timeout()], q, () => ok(1));
  assert.deepEqual(
    blind(createContext({ signal: gone.signal }), undefined),
    ok(1),
  );
  for (const read of [false, true]) {
    const throwing = compose([timeout()], q, (ctx) => {
      if (read) void ctx.signal;
      throw new Error("boom");
    });
    assert.throws(
      () => throwing(createContext({ signal: live }), undefined),
      /boom/,
    );
  }
});

Deno.test("auth denies with its error or continues with the context it returns", async () => {
  const User = defineCapability<string>("user");
  const behavior = auth((ctx) =>
    ctx.tenantId === "acme"
      ? ok(ctx.with(User, "alice"))
      : err(new AppError("UNAUTHORIZED", "who are you?"))
  );
  const run = compose([behavior], q, terminal((c) => c.use(User)));
  const denied = await run(createContext(), undefined);
  assert.ok(!denied.ok && denied.error.status === 401);
  const allowed = await run(createContext({ tenantId: "acme" }), undefined);
  assert.deepEqual(allowed, { ok: true, value: "alice" });
  const publicQuery = defineQuery({
    name: "p",
    skip: ["auth"],
    handle: () => ok(1),
  });
  const open = await compose([behavior], publicQuery, terminal(() => "open"))(
    createContext(),
    undefined,
  );
  assert.deepEqual(open, { ok: true, value: "open" });
});

Deno.test("the built-in behaviors pass a synchronous answer through without a promise", async () => {
  const sink = memorySink("debug");
  const ctx = createContext({ log: sink });
  const run = compose([errors(), tracing(), timeout()], q, () => ok(7));
  const result = run(ctx, undefined);
  assert.deepEqual(result, ok(7)); // a plain result, not a promise
  assert.equal(sink.records()[0].msg, "operation completed");
  // A thrown value is mapped at once too.
  const thrower = compose([errors(), tracing(), timeout()], q, () => {
    throw new AppError("CONFLICT", "taken");
  });
  const mapped = thrower(ctx, undefined) as Result<unknown>;
  assert.ok(!mapped.ok && mapped.error.code === "CONFLICT");
  // A behavior written against the public contract still gets a promise from `next`.
  let seen: unknown;
  const custom = defineBehavior("custom", (c, _h, input, next) => {
    const answer = next(c, input);
    seen = answer;
    return answer;
  });
  const mixed = compose([errors(), custom, timeout()], q, () => ok(8));
  assert.deepEqual(await mixed(ctx, undefined), ok(8));
  assert.ok(seen instanceof Promise);
});

Deno.test("a pending answer settles every layer in one turn after the handler's", async () => {
  const ctx = createContext({ log: memorySink("debug") });
  let release!: (r: Result<unknown>) => void;
  const handler = new Promise<Result<unknown>>((r) => release = r);
  const run = compose([errors(), tracing(), timeout()], q, () => handler);
  const order: string[] = [];
  void settled(run(ctx, undefined)).then(() => order.push("pipeline"));
  release(ok(1));
  // A chain of plain `then`s one turn longer than the handler's own settles after it.
  void handler.then(() => 0).then(() => 0).then(() => 0).then(() =>
    order.push("three turns later")
  );
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(order, ["pipeline", "three turns later"]);
});

Deno.test("a stop wins over a pending handler that fails later, with nothing unhandled", async () => {
  const controller = new AbortController();
  controller.abort(new DOMException("gone", "AbortError"));
  const ctx = createContext({ signal: controller.signal, log: memorySink() });
  let fail!: (e: unknown) => void;
  const run = compose([tracing(), timeout()], q, (c) => {
    assert.ok(c.signal.aborted); // read at once: the caller's signal is already aborted
    return new Promise((_, reject) => fail = reject);
  });
  const result = await run(ctx, undefined);
  assert.ok(!result.ok && result.error.code === "CANCELLED");
  fail(new Error("late")); // ignored: the test runner would report an unhandled rejection
  await new Promise((r) => setTimeout(r, 0));
});
