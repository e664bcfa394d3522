import assert from "node:assert/strict";
import { z } from "zod";
import { defineCapability } from "../context/capability.ts";
import { createContext, type KrepisContext } from "../context/context.ts";
import { memorySink } from "../context/logger.ts";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { definePort } from "../di/port.ts";
import { provide } from "../di/provide.ts";
import { CqsViolationError } from "../di/readonly.ts";
import { AppError } from "../result/app_error.ts";
import { err, ok } from "../result/result.ts";
import { type Route, route } from "../router/route.ts";
import { Router } from "../router/router.ts";
import { Container } from "../di/container.ts";
import { createApp, defaultBehaviors } from "./create_app.ts";
import { createFetchHandler } from "./http_handler.ts";
import { buildPlans } from "./plan.ts";

interface Notes {
  list(ctx: KrepisContext): string[];
  add(ctx: KrepisContext, note: string): void;
}
const NotesPort = definePort<Notes>("notes", { writes: ["add"] });
const UowPort = definePort<{ id: number; disposed: boolean }>("uow", {
  writes: [],
});

function memoryNotes(): Notes {
  const notes: string[] = [];
  return { list: () => [...notes], add: (_ctx, n) => void notes.push(n) };
}

const addNote = defineCommand({
  name: "addNote",
  input: z.object({ note: z.string().min(1) }),
  deps: { notes: NotesPort },
  handle(ctx, input, { notes }) {
    notes.add(ctx, input.note);
    return ok({ added: input.note });
  },
});
const listNotes = defineQuery({
  name: "listNotes",
  deps: { notes: NotesPort },
  handle: (ctx, _input, { notes }) => ok(notes.list(ctx)),
});
const sneakyQuery = defineQuery({
  name: "sneakyQuery",
  deps: { notes: NotesPort },
  handle(ctx, _input, { notes }) {
    notes.add(ctx, "written by a query");
    return ok("unreachable");
  },
});
const catchingQuery = defineQuery({
  name: "catchingQuery",
  deps: { notes: NotesPort },
  handle(ctx, _input, { notes }) {
    try {
      notes.add(ctx, "x");
      return ok("not raised");
    } catch (e) {
      return ok(e instanceof CqsViolationError ? e.message : "other");
    }
  },
});

Deno.test("a query calling a write method raises a CQS violation naming query and method", async () => {
  const sink = memorySink();
  const notes = memoryNotes();
  const app = createApp({
    log: sink,
    adapters: [provide(NotesPort, notes)],
    commands: [addNote],
    queries: [listNotes, sneakyQuery, catchingQuery],
  });
  const ctx = app.context();
  const raised = await app.execute(ctx, catchingQuery, undefined);
  assert.deepEqual(raised, {
    ok: true,
    value:
      'CQS violation: query "catchingQuery" called write method "add" of port "notes"; queries get read-only ports — move the write into a command',
  });
  const r = await app.execute(ctx, sneakyQuery, undefined);
  assert.ok(!r.ok);
  assert.equal(r.error.code, "INTERNAL");
  assert.match(
    r.error.message,
    /query "sneakyQuery" called write method "add"/,
  );
  assert.deepEqual(notes.list(ctx), [], "nothing was written");
  // Commands get the real adapter and may write; queries read through the view.
  assert.ok((await app.execute(ctx, addNote, { note: "hi" })).ok);
  assert.deepEqual(await app.execute(ctx, listNotes, undefined), {
    ok: true,
    value: ["hi"],
  });
  const invalid = await app.execute(ctx, addNote, { note: "" });
  assert.ok(!invalid.ok && invalid.error.code === "INVALID_INPUT");
});

Deno.test("handlers returning something other than a Result fail clearly", async () => {
  const sink = memorySink();
  const plain = defineQuery({
    name: "plain",
    handle: () => 42 as unknown as ReturnType<typeof ok<number>>,
  });
  const stringly = defineQuery({
    name: "stringly",
    handle: () => err("nope" as unknown as AppError),
  });
  const app = createApp({ log: sink, queries: [plain, stringly] });
  const r1 = await app.execute(app.context(), plain, undefined);
  assert.ok(!r1.ok && r1.error.code === "INTERNAL");
  const logged = sink.records().find((r) => r.msg === "handler threw")!;
  assert.equal(
    (logged.error as { message: string }).message,
    'handler "plain" must return ok(value) or err(appError), got number',
  );
  const r2 = await app.execute(app.context(), stringly, undefined);
  assert.ok(!r2.ok && r2.error instanceof AppError && r2.error.status === 500);
});

Deno.test("execute rejects handlers that are not registered", async () => {
  const app = createApp({ log: memorySink(), queries: [] });
  await assert.rejects(
    () => app.execute(app.context(), listNotes, undefined),
    /"listNotes" is not a command or query registered with this app/,
  );
});

Deno.test("scoped adapters live for one operation and are disposed after it", async () => {
  let next = 0;
  const made: { id: number; disposed: boolean }[] = [];
  const useUow = defineCommand({
    name: "useUow",
    deps: { a: UowPort, b: UowPort },
    handle: (_ctx, _i, { a, b }) =>
      ok({ same: a === b, id: a.id, disposed: a.disposed }),
  });
  const app = createApp({
    log: memorySink(),
    adapters: [
      provide(UowPort, () => {
        const uow = {
          id: ++next,
          disposed: false,
          [Symbol.dispose]() {
            uow.disposed = true;
          },
        };
        made.push(uow);
        return uow;
      }, { lifetime: "scoped" }),
    ],
    commands: [useUow],
  });
  const r1 = await app.execute(app.context(), useUow, undefined);
  const r2 = await app.execute(app.context(), useUow, undefined);
  assert.deepEqual(r1, {
    ok: true,
    value: { same: true, id: 1, disposed: false },
  });
  assert.deepEqual(r2, {
    ok: true,
    value: { same: true, id: 2, disposed: false },
  });
  assert.deepEqual(made.map((u) => u.disposed), [true, true]);
});

Deno.test("closing the app disposes its factory-built singletons", async () => {
  let closed = 0;
  const Db = definePort<{ ping(ctx: KrepisContext): string }>("db", {
    writes: [],
  });
  const ping = defineQuery({
    name: "ping",
    deps: { db: Db },
    handle: (ctx, _i, { db }) => ok(db.ping(ctx)),
  });
  {
    await using app = createApp({
      log: memorySink(),
      adapters: [
        provide(Db, () => ({
          ping: () => "pong",
          [Symbol.dispose]: () => void closed++,
        })),
      ],
      queries: [ping],
    });
    assert.deepEqual(await app.execute(app.context(), ping, undefined), {
      ok: true,
      value: "pong",
    });
    assert.equal(closed, 0);
  }
  assert.equal(closed, 1, "`await using` closed the app");
});

Deno.test("the context hook attaches capabilities to every operation", async () => {
  const Greeting = defineCapability<string>("greeting");
  const greet = defineQuery({
    name: "greet",
    handle: (ctx) => ok(ctx.use(Greeting)),
  });
  const app = createApp({
    log: memorySink(),
    queries: [greet],
    routes: [route("GET", "/greet", greet)],
    context: (ctx) => ctx.with(Greeting, `hello ${ctx.tenantId ?? "anon"}`),
  });
  assert.deepEqual(
    await app.execute(app.context({ tenantId: "acme" }), greet, undefined),
    {
      ok: true,
      value: "hello acme",
    },
  );
  const res = await app.fetch(
    new Request("http://local/greet", { headers: { "x-tenant-id": "beta" } }),
  );
  assert.equal(await res.json(), "hello beta");
});

function httpApp(sink = memorySink()) {
  const notes = memoryNotes();
  const fail = defineCommand({
    name: "fail",
    handle: () =>
      err(new AppError("CONFLICT", "already there", { details: { n: 1 } })),
  });
  const crash = defineCommand({
    name: "crash",
    handle: () => {
      throw new Error("secret detail");
    },
  });
  const rawCrash = defineCommand({
    name: "rawCrash",
    skip: ["errors"],
    handle: () => {
      throw new Error("secret detail");
    },
  });
  const unserializable = defineQuery({
    name: "unserializable",
    handle: () => ok({ big: 1n }),
  });
  const app = createApp({
    log: sink,
    adapters: [provide(NotesPort, notes)],
    commands: [addNote, fail, crash, rawCrash],
    queries: [listNotes, unserializable],
    routes: [
      route("POST", "/notes", addNote, { status: 201 }),
      route("GET", "/notes", listNotes),
      route("POST", "/fail", fail),
      route("POST", "/crash", crash),
      route("POST", "/raw-crash", rawCrash),
      route("GET", "/bigint", unserializable),
      route("POST", "/bad-mapper", addNote, {
        input: () => {
          throw new Error("mapper bug");
        },
      }),
    ],
    maxBodyBytes: 64,
    openapi: { title: "Notes", version: "1.0.0" },
  });
  return { app, notes, sink };
}

const post = (path: string, body: string, type = "application/json") =>
  new Request(`http://local${path}`, {
    method: "POST",
    body,
    headers: { "content-type": type },
  });

Deno.test("fetch maps requests to handlers and results to JSON responses", async () => {
  const { app } = httpApp();
  const created = await app.fetch(post("/notes", '{"note":"milk"}'));
  assert.equal(created.status, 201);
  assert.equal(
    created.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  assert.deepEqual(await created.json(), { added: "milk" });
  const announced = await app.fetch(
    new Request("http://local/notes", {
      method: "POST",
      body: '{"note":"tea"}',
      headers: { "content-type": "application/json", "content-length": "14" },
    }),
  );
  assert.deepEqual(await announced.json(), { added: "tea" });
  const listed = await app.fetch(new Request("http://local/notes"));
  assert.deepEqual(await listed.json(), ["milk", "tea"]);
  const head = await app.fetch(
    new Request("http://local/notes", { method: "HEAD" }),
  );
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const conflict = await app.fetch(post("/fail", ""));
  assert.equal(conflict.status, 409);
  assert.deepEqual(await conflict.json(), {
    error: { code: "CONFLICT", message: "already there", details: { n: 1 } },
  });
});

Deno.test("fetch answers bad requests with clear errors", async () => {
  const { app, notes } = httpApp();
  const cases: [Request, number, string][] = [
    [new Request("http://local/nope"), 404, "NOT_FOUND"],
    [
      new Request("http://local/notes", { method: "PUT" }),
      405,
      "METHOD_NOT_ALLOWED",
    ],
    [post("/notes", '{"note":'), 400, "INVALID_INPUT"],
    [post("/notes", '{"note":""}'), 400, "INVALID_INPUT"],
    [
      post("/notes", "note=x", "application/x-www-form-urlencoded"),
      415,
      "UNSUPPORTED_MEDIA_TYPE",
    ],
    [
      post("/notes", JSON.stringify({ note: "x".repeat(100) })),
      413,
      "PAYLOAD_TOO_LARGE",
    ],
    // A Content-Length smaller than the body does not get a large body past the limit
    // (71 bytes of UTF-8 in 41 UTF-16 units).
    [
      new Request("http://local/notes", {
        method: "POST",
        body: JSON.stringify({ note: "é".repeat(30) }),
        headers: { "content-type": "application/json", "content-length": "10" },
      }),
      413,
      "PAYLOAD_TOO_LARGE",
    ],
    [post("/crash", ""), 500, "INTERNAL"],
    [post("/raw-crash", ""), 500, "INTERNAL"],
    [new Request("http://local/bigint"), 500, "INTERNAL"],
    [post("/bad-mapper", '{"note":"x"}'), 500, "INTERNAL"],
  ];
  for (const [req, status, code] of cases) {
    const res = await app.fetch(req);
    const body = await res.json();
    assert.equal(
      res.status,
      status,
      `${req.method} ${req.url}: ${JSON.stringify(body)}`,
    );
    assert.equal(body.error.code, code);
    assert.ok(res.headers.get("traceparent"), "errors carry trace context too");
    if (status === 500) assert.equal(body.error.message, "internal error");
  }
  const put = await app.fetch(
    new Request("http://local/notes", { method: "PUT" }),
  );
  assert.equal(put.headers.get("allow"), "POST, GET, HEAD");
  const invalid = await app.fetch(post("/notes", '{"note":""}'));
  assert.deepEqual((await invalid.json()).error.details.issues[0].path, "note");
  assert.deepEqual(
    notes.list(createContext()),
    [],
    "rejected requests wrote nothing",
  );
});

Deno.test("GET /openapi.json serves the generated document", async () => {
  const { app } = httpApp();
  const res = await app.fetch(new Request("http://local/openapi.json"));
  assert.equal(res.status, 200);
  const doc = await res.json();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(doc.info.title, "Notes");
  assert.equal(doc.paths["/notes"].post.operationId, "addNote");
  assert.deepEqual(doc, app.openapi());
  const off = createApp({ log: memorySink(), openapi: false });
  assert.equal(
    (await off.fetch(new Request("http://local/openapi.json"))).status,
    404,
  );
});

Deno.test("fetch uses the kernel's request context when one is given", async () => {
  const { app, sink } = httpApp();
  const kernelCtx = {
    requestId: "kernel-req-9",
    traceId: "0af7651916cd43dd8448eb211c80319c",
    spanId: "b7ad6b7169203331",
    parentSpanId: "00f067aa0ba902b7",
    deadline: Date.now() + 5_000,
    signal: new AbortController().signal,
  };
  const res = await app.fetch(new Request("http://local/notes"), {
    remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 },
    ctx: kernelCtx,
  });
  assert.equal(res.headers.get("x-request-id"), "kernel-req-9");
  assert.equal(
    res.headers.get("traceparent"),
    `00-${kernelCtx.traceId}-${kernelCtx.spanId}-01`,
  );
  const rec = sink.records().find((r) => r.op === "listNotes")!;
  assert.equal(rec.traceId, kernelCtx.traceId);
  assert.equal(rec.parentSpanId, kernelCtx.spanId);
  assert.equal(rec.requestId, "kernel-req-9");
});

Deno.test("traceHeaders: false leaves the trace headers off responses, not the ids off logs", async () => {
  const sink = memorySink();
  const app = createApp({
    log: sink,
    adapters: [provide(NotesPort, memoryNotes())],
    commands: [addNote],
    queries: [listNotes],
    routes: [
      route("POST", "/notes", addNote, { status: 201 }),
      route("GET", "/notes", listNotes),
    ],
    traceHeaders: false,
  });
  const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const responses = [
    await app.fetch(
      new Request("http://local/notes", {
        method: "POST",
        body: '{"note":"x"}',
        headers: { "content-type": "application/json", traceparent },
      }),
    ),
    await app.fetch(
      new Request("http://local/notes", { headers: { traceparent } }),
    ),
    await app.fetch(new Request("http://local/nope")),
    await app.fetch(new Request("http://local/notes", { method: "PUT" })),
  ];
  assert.deepEqual(responses.map((r) => r.status), [201, 200, 404, 405]);
  for (const res of responses) {
    assert.equal(res.headers.get("traceparent"), null);
    assert.equal(res.headers.get("x-request-id"), null);
    await res.body?.cancel();
  }
  assert.equal(responses[3].headers.get("allow"), "POST, GET, HEAD");
  const rec = sink.records().find((r) => r.op === "addNote")!;
  assert.equal(rec.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(typeof rec.requestId, "string");
});

Deno.test("the HTTP handler answers a synchronous route with a Response at once, as app.fetch does later", async () => {
  const now = defineQuery({
    name: "now",
    input: z.object({ id: z.string() }),
    handle: (_ctx, input) => ok({ id: input.id }),
  });
  const later = defineQuery({
    name: "later",
    input: z.object({ id: z.string() }),
    handle: async (_ctx, input) => {
      await null;
      return ok({ id: input.id });
    },
  });
  const log = memorySink();
  const routes = [
    route("GET", "/now/:id", now),
    route("GET", "/later/:id", later),
  ];
  const router = new Router<Route>();
  for (const r of routes) router.add(r.method, r.path, r);
  const plans = buildPlans(
    [now, later],
    defaultBehaviors(),
    new Container([], createContext({ log })),
  );
  const handle = createFetchHandler({
    router,
    execute: (ctx, h, input) => plans.get(h)!(ctx, input),
    maxBodyBytes: 1024,
    log,
    tenantHeader: "x-tenant-id",
    requestTimeoutMs: 1000,
  });
  const sync = handle(new Request("http://x/now/a"));
  assert.ok(sync instanceof Response);
  const pending = handle(new Request("http://x/later/b"));
  assert.ok(pending instanceof Promise);
  const app = createApp({ queries: [now, later], routes, log });
  for (const [res, id] of [[sync, "a"], [await pending, "b"]] as const) {
    const viaApp = await app.fetch(
      new Request(`http://x/${id === "a" ? "now" : "later"}/${id}`),
    );
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id });
    assert.deepEqual(await viaApp.json(), { id });
    assert.equal(
      res.headers.get("content-type"),
      viaApp.headers.get("content-type"),
    );
  }
});
