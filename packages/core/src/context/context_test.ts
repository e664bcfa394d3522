import assert from "node:assert/strict";
import { defineCapability } from "./capability.ts";
import { createContext } from "./context.ts";
import { memorySink } from "./logger.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN = "00f067aa0ba902b7";

Deno.test("a root context keeps given ids and generates missing ones once", () => {
  const ctx = createContext({ traceId: TRACE, spanId: SPAN, requestId: "r1" });
  assert.equal(ctx.traceId, TRACE);
  assert.equal(ctx.spanId, SPAN);
  assert.equal(ctx.requestId, "r1");
  assert.equal(ctx.deadline, Infinity);
  assert.equal(ctx.signal.aborted, false);

  const fresh = createContext();
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.match(fresh.spanId, /^[0-9a-f]{16}$/);
  assert.equal(fresh.traceId, fresh.traceId, "generated ids are stable");
  assert.equal(fresh.requestId, fresh.requestId);
  assert.notEqual(createContext().traceId, fresh.traceId);
});

Deno.test("child opens a new span under the same trace and keeps everything else", () => {
  const ac = new AbortController();
  const Cap = defineCapability<number>("n");
  const root = createContext({
    traceId: TRACE,
    spanId: SPAN,
    tenantId: "acme",
    deadline: 123,
    signal: ac.signal,
  }).with(Cap, 7);
  const child = root.child("step");
  assert.equal(child.traceId, TRACE);
  assert.equal(child.parentSpanId, SPAN);
  assert.notEqual(child.spanId, SPAN);
  assert.match(child.spanId, /^[0-9a-f]{16}$/);
  assert.equal(child.requestId, root.requestId);
  assert.equal(child.tenantId, "acme");
  assert.equal(child.deadline, 123);
  assert.equal(child.signal, ac.signal);
  assert.equal(child.name, "step");
  assert.equal(child.get(Cap), 7);
  assert.equal(child.child("inner").parentSpanId, child.spanId);
});

Deno.test("derive replaces deadline/signal/tenant but stays in the same span", () => {
  const root = createContext({ traceId: TRACE, spanId: SPAN, deadline: 1000 });
  const ac = new AbortController();
  const d = root.derive({ deadline: 500, signal: ac.signal, tenantId: "t" });
  assert.equal(d.spanId, SPAN);
  assert.equal(d.deadline, 500);
  assert.equal(d.signal, ac.signal);
  assert.equal(d.tenantId, "t");
  assert.equal(root.deadline, 1000, "the original is untouched");
  assert.equal(root.tenantId, undefined);
});

Deno.test("copies made before ids were read share the same ids", () => {
  const root = createContext();
  const Cap = defineCapability<number>("n");
  const derived = root.derive({ deadline: 1 });
  const attached = root.with(Cap, 1);
  for (const copy of [derived, attached]) {
    assert.equal(copy.traceId, root.traceId);
    assert.equal(copy.spanId, root.spanId);
    assert.equal(copy.requestId, root.requestId);
  }
});

Deno.test("children and copies read before their origin agree with it afterwards", () => {
  // Children and copies generate no ids when made; whichever side is read first decides.
  const root = createContext();
  const child = root.child("step");
  const grandchild = child.child("inner");
  const copy = child.derive({ deadline: 1 });
  assert.match(grandchild.traceId, /^[0-9a-f]{32}$/);
  assert.equal(grandchild.parentSpanId, copy.spanId);
  assert.equal(copy.parentSpanId, root.spanId);
  assert.equal(child.spanId, copy.spanId);
  assert.notEqual(child.spanId, root.spanId);
  assert.notEqual(grandchild.spanId, child.spanId);
  assert.equal(root.traceId, grandchild.traceId);
  assert.equal(grandchild.requestId, root.requestId);
  assert.equal(copy.requestId, root.requestId);
  assert.equal(root.parentSpanId, undefined);
  assert.equal(root.derive({}).parentSpanId, undefined);
});

Deno.test("a lazy signal source is read once, on first use, and shared by copies", () => {
  let reads = 0;
  const ac = new AbortController();
  const ctx = createContext({ signal: () => (reads++, ac.signal) });
  const child = ctx.child("c");
  const derived = ctx.derive({ deadline: 1 });
  assert.equal(
    reads,
    0,
    "creating and copying contexts does not read the source",
  );
  assert.equal(child.signal, ac.signal);
  assert.equal(ctx.signal, ac.signal);
  assert.equal(ctx.signal, ac.signal);
  assert.equal(derived.signal, ac.signal);
  assert.ok(reads <= 3, "each copy reads it at most once");
});

Deno.test("capabilities are typed, immutable and missing ones fail clearly", () => {
  const Fs = defineCapability<{ read(): string }>("fs");
  const Other = defineCapability<string>("fs"); // same name, different key
  const base = createContext({ name: "op" });
  const withFs = base.with(Fs, { read: () => "data" });
  assert.equal(withFs.use(Fs).read(), "data");
  assert.equal(
    base.get(Fs),
    undefined,
    "attaching does not mutate the original",
  );
  assert.equal(withFs.get(Other), undefined, "keys compare by identity");
  assert.equal(
    withFs.with(Fs, { read: () => "newer" }).use(Fs).read(),
    "newer",
  );
  assert.throws(
    () => base.use(Fs),
    /capability "fs" is not attached to this context \(operation "op"\)/,
  );
});

Deno.test("remainingMs and traceparent reflect the context", () => {
  const ctx = createContext({
    traceId: TRACE,
    spanId: SPAN,
    deadline: Date.now() + 10_000,
  });
  const left = ctx.remainingMs();
  assert.ok(left > 9_000 && left <= 10_000);
  assert.equal(createContext({ deadline: 0 }).remainingMs(), 0);
  assert.equal(ctx.traceparent(), `00-${TRACE}-${SPAN}-01`);
});

Deno.test("the logger writes JSON lines carrying the context's ids", () => {
  const sink = memorySink();
  const root = createContext({
    requestId: "req-1",
    traceId: TRACE,
    spanId: SPAN,
    tenantId: "acme",
    log: sink,
  });
  root.child("save").log.info("saved", { id: 3, traceId: "forged" });
  const [rec] = sink.records();
  assert.equal(rec.msg, "saved");
  assert.equal(rec.level, "info");
  assert.equal(rec.requestId, "req-1");
  assert.equal(rec.traceId, TRACE, "caller fields cannot overwrite ids");
  assert.equal(rec.parentSpanId, SPAN);
  assert.equal(rec.tenantId, "acme");
  assert.equal(rec.op, "save");
  assert.equal(rec.id, 3);
  assert.ok(!Number.isNaN(Date.parse(rec.time as string)));
  assert.equal(sink.lines[0].includes("\n"), false, "one record per line");
});

Deno.test("the logger drops records below the sink level and serialises errors", () => {
  const sink = memorySink("warn");
  const ctx = createContext({ log: sink });
  ctx.log.debug("d");
  ctx.log.info("i");
  assert.equal(ctx.log.enabled("info"), false);
  assert.equal(ctx.log.enabled("error"), true);
  ctx.log.error("boom", { error: new TypeError("bad"), big: 10n });
  const recs = sink.records();
  assert.equal(recs.length, 1);
  const e = recs[0].error as Record<string, string>;
  assert.equal(e.name, "TypeError");
  assert.equal(e.message, "bad");
  assert.equal(recs[0].big, "10");
});

Deno.test("ctx.logs(level) answers as the logger's enabled(level) does", () => {
  const ctx = createContext({ log: memorySink("warn") });
  for (const level of ["debug", "info", "warn", "error"] as const) {
    assert.equal(ctx.logs(level), ctx.log.enabled(level), level);
  }
  assert.ok(!ctx.logs("info") && ctx.logs("warn"));
  assert.ok(!createContext({ log: memorySink("silent") }).logs("error"));
});

Deno.test("jsonLinesSink writes newline-terminated lines to its writer", async () => {
  const { jsonLinesSink } = await import("./logger.ts");
  const chunks: Uint8Array[] = [];
  const sink = jsonLinesSink("info", {
    writeSync(p) {
      // Accept at most 5 bytes per call to prove partial writes are completed.
      const n = Math.min(5, p.length);
      chunks.push(p.slice(0, n));
      return n;
    },
  });
  createContext({ log: sink }).log.info("hi");
  await new Promise((resolve) => setTimeout(resolve, 0));
  const text = new TextDecoder().decode(
    new Uint8Array(chunks.flatMap((c) => [...c])),
  );
  assert.ok(text.endsWith("\n"));
  assert.equal(JSON.parse(text).msg, "hi");
});

Deno.test("jsonLinesSink batches a microtask's records into one write, in order; errors go at once", async () => {
  const { jsonLinesSink } = await import("./logger.ts");
  const writes: string[] = [];
  const sink = jsonLinesSink("info", {
    writeSync(p) {
      writes.push(new TextDecoder().decode(p));
      return p.length;
    },
  });
  const log = createContext({ log: sink }).log;
  log.info("one");
  log.warn("two");
  assert.equal(writes.length, 0); // held until the microtask checkpoint
  await Promise.all([1, 2, 3].map(async (n) => {
    await null;
    log.info(`op ${n}`);
  }));
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.ok(writes.length <= 2, `${writes.length} writes`);
  const msgs = writes.join("").trimEnd().split("\n").map((l) =>
    JSON.parse(l).msg
  );
  assert.deepEqual(msgs, ["one", "two", "op 1", "op 2", "op 3"]);
  writes.length = 0;
  log.info("before");
  log.error("failed");
  // The error and what came before it are written synchronously, in order.
  assert.deepEqual(
    writes.join("").trimEnd().split("\n").map((l) => JSON.parse(l).msg),
    ["before", "failed"],
  );
  // Another sink on the same writer: its held lines go out before this one's error.
  writes.length = 0;
  const other = createContext({
    log: jsonLinesSink("info", {
      writeSync(p) {
        writes.push(new TextDecoder().decode(p));
        return p.length;
      },
    }),
  }).log;
  other.info("other first");
  log.error("then this");
  assert.deepEqual(
    writes.join("").trimEnd().split("\n").map((l) => JSON.parse(l).msg),
    ["other first", "then this"],
  );
});

Deno.test("jsonLinesSink: a writer failing in the batched write drops that batch, not the process", async () => {
  const { jsonLinesSink } = await import("./logger.ts");
  let fail = true;
  const written: string[] = [];
  const sink = jsonLinesSink("info", {
    writeSync(p) {
      if (fail) throw new Deno.errors.BrokenPipe("closed");
      written.push(new TextDecoder().decode(p));
      return p.length;
    },
  });
  const log = createContext({ log: sink }).log;
  log.info("lost");
  await new Promise((resolve) => setTimeout(resolve, 0));
  fail = false;
  log.info("kept");
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(written.map((l) => JSON.parse(l).msg), ["kept"]);
  fail = true; // an error record is written at once: its caller sees the failure
  assert.throws(() => log.error("now"), Deno.errors.BrokenPipe);
});

Deno.test("jsonLinesSink: lines still pending when the process exits are written", async () => {
  const script = `
    import { createContext, jsonLinesSink } from "${
    new URL("../../mod.ts", import.meta.url).href
  }";
    const log = createContext({ log: jsonLinesSink("info") }).log;
    for (let i = 0; i < 3; i++) log.info("line " + i);
    Deno.exit(0);
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(
    text.trimEnd().split("\n").map((l) => JSON.parse(l).msg),
    ["line 0", "line 1", "line 2"],
  );
});

Deno.test("log fields: errors and bigints are serialized, at any depth; plain fields as they are", () => {
  const sink = memorySink();
  const log = createContext({ log: sink }).log;
  log.info("plain", { n: 1, s: "x", ok: true, none: null });
  log.error("rich", {
    error: new Error("boom"),
    big: 12n,
    nested: { cause: new TypeError("inner") },
  });
  const [plain, rich] = sink.records();
  assert.equal(plain.n, 1);
  assert.equal(plain.s, "x");
  assert.equal(plain.ok, true);
  assert.equal(plain.none, null);
  const error = rich.error as { name: string; message: string; stack: string };
  assert.equal(error.name, "Error");
  assert.equal(error.message, "boom");
  assert.match(error.stack, /boom/);
  assert.equal(rich.big, "12");
  assert.deepEqual(
    (rich.nested as { cause: { name: string; message: string } }).cause.message,
    "inner",
  );
});
