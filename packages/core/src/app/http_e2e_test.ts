import assert from "node:assert/strict";
import { memorySink } from "../context/logger.ts";
import { defineCommand, defineQuery } from "../cqs/handler.ts";
import { ok } from "../result/result.ts";
import { route } from "../router/route.ts";
import { type App, createApp } from "./create_app.ts";

interface Host {
  name: string;
  listen(app: App): Promise<{ base: string; close(): Promise<void> }>;
}

/**
 * The two ways an app is served: on the Krepis kernel (`app.serve`, the context comes from
 * the kernel) and on `Deno.serve` (`app.fetch` derives the context from the headers).
 */
const hosts: Host[] = [
  {
    name: "kernel",
    async listen(app) {
      const server = await app.serve({
        hostname: "127.0.0.1",
        port: 0,
        onListen() {},
      });
      return {
        base: `http://127.0.0.1:${server.addr.port}`,
        close: () => server.shutdown(),
      };
    },
  },
  {
    name: "Deno.serve",
    listen(app) {
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        (req) => app.fetch(req),
      );
      return Promise.resolve({
        base: `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`,
        close: () => server.shutdown(),
      });
    },
  },
];

for (const host of hosts) {
  Deno.test(`${host.name}: trace ids flow from an incoming traceparent to the logs and the response`, async () => {
    const sink = memorySink();
    const hello = defineQuery({
      name: "hello",
      handle(ctx) {
        ctx.log.info("inside the handler");
        return ok({ traceId: ctx.traceId });
      },
    });
    const app = createApp({
      log: sink,
      queries: [hello],
      routes: [route("GET", "/hello", hello)],
    });
    const { base, close } = await host.listen(app);
    try {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const callerSpan = "00f067aa0ba902b7";
      const res = await fetch(`${base}/hello`, {
        headers: {
          traceparent: `00-${traceId}-${callerSpan}-01`,
          "x-request-id": "req-from-client",
        },
      });
      assert.deepEqual(await res.json(), { traceId });
      const tp = res.headers.get("traceparent")!;
      const [, resTrace, serverSpan] = tp.split("-");
      assert.equal(
        resTrace,
        traceId,
        "the response continues the caller's trace",
      );
      assert.match(serverSpan, /^[0-9a-f]{16}$/);
      assert.notEqual(serverSpan, callerSpan, "the server has its own span");
      const requestId = res.headers.get("x-request-id")!;
      if (host.name === "kernel") {
        assert.match(
          requestId,
          /^[0-9a-f]{16}$/,
          "the kernel assigns request ids",
        );
      } else {
        assert.equal(
          requestId,
          "req-from-client",
          "a sane client request id is kept",
        );
      }

      const records = sink.records();
      const inside = records.find((r) => r.msg === "inside the handler")!;
      const done = records.find((r) => r.msg === "operation completed")!;
      for (const r of [inside, done]) {
        assert.equal(r.traceId, traceId);
        assert.equal(r.requestId, requestId);
        assert.equal(
          r.parentSpanId,
          serverSpan,
          "operation span is a child of the server span",
        );
      }
      assert.equal(inside.spanId, done.spanId);

      // A malformed traceparent starts a fresh trace instead of failing the request.
      const fresh = await fetch(`${base}/hello`, {
        headers: { traceparent: "garbage" },
      });
      const body = await fresh.json();
      assert.match(body.traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(body.traceId, traceId);
      assert.equal(
        fresh.headers.get("traceparent")!.split("-")[1],
        body.traceId,
      );
    } finally {
      await close();
    }
  });

  Deno.test(`${host.name}: a client disconnect cancels a long-running command through ctx.signal`, async () => {
    const sink = memorySink();
    const started = Promise.withResolvers<void>();
    const cancelled = Promise.withResolvers<string>();
    const longJob = defineCommand({
      name: "longJob",
      timeoutMs: 60_000,
      async handle(ctx) {
        started.resolve();
        // Real work would pass ctx.signal to fetch/streams; here we wait for it to fire.
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener("abort", () => {
            cancelled.resolve(String((ctx.signal.reason as Error)?.name));
            resolve();
          }, { once: true });
        });
        return ok("finished");
      },
    });
    const app = createApp({
      log: sink,
      commands: [longJob],
      routes: [route("POST", "/jobs", longJob)],
    });
    const { base, close } = await host.listen(app);
    try {
      const client = new AbortController();
      const request = fetch(`${base}/jobs`, {
        method: "POST",
        signal: client.signal,
      })
        .catch((e) => e);
      await started.promise;
      client.abort();
      assert.ok(
        (await request) instanceof Error,
        "the client saw its own abort",
      );
      const timer = setTimeout(
        () => cancelled.reject(new Error("not cancelled in 5s")),
        5_000,
      );
      const reason = await cancelled.promise;
      clearTimeout(timer);
      assert.notEqual(
        reason,
        "TimeoutError",
        "cancelled by the disconnect, not the timeout",
      );
      const failed = await waitFor(() =>
        sink.records().find((r) =>
          r.op === "longJob" && r.msg === "operation failed"
        )
      );
      assert.equal(failed.code, "CANCELLED");
    } finally {
      await close();
    }
  });
}

async function waitFor<T>(probe: () => T | undefined, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("condition not met in time");
}

for (const host of hosts) {
  for (const traceHeaders of [true, false]) {
    // Without trace headers, and with the per-operation records off (a sink at `warn`),
    // nothing reads the request's ids before its response is out: they and the tenant are
    // read from its headers when the late work asks.
    Deno.test(`${host.name}: work that outlives the response still reads its context's tenant and ids (traceHeaders: ${traceHeaders})`, async () => {
      const sink = memorySink("warn");
      const late = Promise.withResolvers<(string | undefined)[]>();
      const later = defineQuery({
        name: "later",
        handle(ctx) {
          // Background work: runs after the response went out.
          setTimeout(() => {
            try {
              ctx.log.warn("after the response");
              late.resolve([
                ctx.tenantId,
                ctx.requestId,
                ctx.traceId,
                ctx.parentSpanId,
              ]);
            } catch (e) {
              late.reject(e);
            }
          }, 50);
          return ok("accepted");
        },
      });
      const app = createApp({
        log: sink,
        queries: [later],
        routes: [route("GET", "/later", later)],
        traceHeaders,
      });
      const { base, close } = await host.listen(app);
      try {
        const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
        const res = await fetch(`${base}/later`, {
          headers: {
            "x-tenant-id": "acme",
            "x-request-id": "req-late",
            traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
          },
        });
        assert.equal(await res.json(), "accepted");
        const [tenant, requestId, lateTrace] = await late.promise;
        assert.equal(tenant, "acme");
        // The kernel gives every request an id of its own (an incoming one is not kept).
        if (host.name === "Deno.serve") assert.equal(requestId, "req-late");
        assert.equal(lateTrace, traceId);
        const rec = sink.records().find((r) => r.msg === "after the response");
        assert.equal(rec?.tenantId, "acme");
        assert.equal(rec?.requestId, requestId);
        assert.equal(rec?.traceId, traceId);
      } finally {
        await close();
        await app.close();
      }
    });
  }
}

for (const traceHeaders of [true, false]) {
  Deno.test(`the kernel and Deno.serve answer an app's requests with the same statuses, headers and bodies (traceHeaders: ${traceHeaders})`, async () => {
    const item = defineQuery({
      name: "item",
      handle: async (_ctx, input) => {
        await null;
        return ok(input);
      },
    });
    const now = defineQuery({ name: "now", handle: () => ok("now") });
    const put = defineCommand({
      name: "put",
      handle: (_ctx, input) => ok(input),
    });
    const drop = defineCommand({ name: "drop", handle: () => ok(undefined) });
    const app = createApp({
      log: memorySink(),
      traceHeaders,
      maxBodyBytes: 64,
      queries: [item, now],
      commands: [put, drop],
      routes: [
        route("GET", "/items/:id", item),
        route("GET", "/now", now),
        route("POST", "/items", put, { status: 201 }),
        route("DELETE", "/items/:id", drop),
      ],
    });
    // Made per host: a stream body is read once.
    const requests = (): [string, RequestInit][] => [
      ["/items/a?x=1", {}],
      ["/now", {}],
      ["/now", { method: "HEAD" }],
      ["/items", {
        method: "POST",
        body: '{"n":1}',
        headers: { "content-type": "application/json" },
      }],
      ["/items", {
        method: "POST",
        body: "{",
        headers: { "content-type": "application/json" },
      }],
      ["/items/a", { method: "DELETE" }],
      ["/nothing", {}],
      ["/now", { method: "PUT" }],
      // Bodies the kernel buffers are read at once, a streamed one later: same answers.
      ["/items", {
        method: "POST",
        body: '{"n":1}',
        headers: { "content-type": "text/plain" },
      }],
      ["/items", { method: "POST" }],
      ["/items", {
        method: "POST",
        body: JSON.stringify({ s: "x".repeat(100) }),
        headers: { "content-type": "application/json" },
      }],
      ["/items", {
        method: "POST",
        body: ReadableStream.from([new TextEncoder().encode('{"n":2}')]),
        headers: { "content-type": "application/json" },
      }],
    ];
    // What the app decides; the servers' own headers (their compression policies differ) aside.
    const SERVERS_OWN = [
      "date",
      "content-length",
      "vary",
      "content-encoding",
      "transfer-encoding",
    ];
    const shape = async (res: Response) => {
      const headers: string[] = [];
      res.headers.forEach((value, name) => {
        if (name === "traceparent") {
          assert.match(value, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
          headers.push(`${name}: <trace>`);
        } else if (name === "x-request-id") {
          assert.ok(value.length > 0);
          headers.push(`${name}: <id>`);
        } else if (!SERVERS_OWN.includes(name)) {
          headers.push(`${name}: ${value}`);
        }
      });
      return { status: res.status, headers, body: await res.text() };
    };
    const seen: unknown[][] = [];
    for (const host of hosts) {
      const { base, close } = await host.listen(app);
      try {
        const answers = [];
        for (const [path, init] of requests()) {
          answers.push(await shape(await fetch(base + path, init)));
        }
        seen.push(answers);
      } finally {
        await close();
      }
    }
    assert.deepEqual(seen[0], seen[1]);
    const json = seen[0][1] as { headers: string[]; body: string };
    assert.equal(json.body, '"now"');
    assert.deepEqual(
      json.headers,
      traceHeaders
        ? [
          "content-type: application/json; charset=utf-8",
          "traceparent: <trace>",
          "x-request-id: <id>",
        ]
        : ["content-type: application/json; charset=utf-8"],
    );
    const statuses = (seen[0] as { status: number }[]).map((a) => a.status);
    assert.deepEqual(statuses, [
      204,
      200,
      200,
      201,
      400,
      204,
      404,
      405,
      415,
      201,
      413,
      201,
    ]);
  });
}
