/**
 * `serve({ traceHeaders: true })`: every response carries the request's `traceparent` and
 * `x-request-id` from `info.ctx`, whatever path it takes (fast text body, a status and
 * headers of its own, a streamed body, `onError`), and a header the handler set wins.
 */

import assert from "node:assert/strict";
import type { RequestContext } from "@krepis/core/http";
import { base, listen } from "./_test_util.ts";

const CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

Deno.test("traceHeaders adds the request's ids to every kind of response", async () => {
  const seen = new Map<string, RequestContext>();
  await using server = listen((req, info) => {
    const path = new URL(req.url).pathname;
    seen.set(path, info.ctx);
    switch (path) {
      case "/text":
        return new Response("hi");
      case "/created":
        return new Response('{"a":1}', {
          status: 201,
          headers: { "content-type": "application/json", "x-other": "1" },
        });
      case "/stream":
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode("streamed"));
              c.close();
            },
          }),
        );
      case "/own":
        return new Response("mine", { headers: { "x-request-id": "mine" } });
      default:
        throw new Error("handler failed");
    }
  }, {
    traceHeaders: true,
    onError: () => new Response("oops", { status: 500 }),
  });
  for (const path of ["/text", "/created", "/stream", "/own", "/throws"]) {
    const res = await fetch(`${base(server)}${path}`, {
      headers: { traceparent: CALLER },
    });
    await res.text();
    const ctx = seen.get(path)!;
    assert.equal(
      res.headers.get("traceparent"),
      `00-${ctx.traceId}-${ctx.spanId}-01`,
      path,
    );
    assert.equal(ctx.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(
      res.headers.get("x-request-id"),
      path === "/own" ? "mine" : ctx.requestId,
      `${path}: a header the handler set is kept, not doubled`,
    );
  }
});

Deno.test("without traceHeaders responses carry no trace headers", async () => {
  await using server = listen(() => new Response("plain"));
  const res = await fetch(base(server), { headers: { traceparent: CALLER } });
  assert.equal(await res.text(), "plain");
  assert.equal(res.headers.get("traceparent"), null);
  assert.equal(res.headers.get("x-request-id"), null);
});
