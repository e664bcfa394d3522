import assert from "node:assert/strict";
import { memorySink } from "../context/logger.ts";
import { requestContext } from "./request_context.ts";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

/** A request whose header reads are counted by name. */
function countedRequest(headers: Record<string, string>) {
  const req = new Request("http://x/", { headers });
  const reads = new Map<string, number>();
  const h = req.headers;
  const get = h.get.bind(h);
  h.get = (name: string) => {
    reads.set(name, (reads.get(name) ?? 0) + 1);
    return get(name);
  };
  return { req, reads };
}

const options = {
  log: memorySink(),
  tenantHeader: "x-tenant-id",
  requestTimeoutMs: 1000,
};

Deno.test("a request's ids and tenant are read from its headers on first use, once", () => {
  const { req, reads } = countedRequest({
    traceparent: `00-${TRACE}-${PARENT}-01`,
    "x-request-id": "req-1",
    "x-tenant-id": "acme",
  });
  const ctx = requestContext(req, undefined, options);
  assert.equal(reads.size, 0, "nothing is read before it is asked for");

  assert.equal(ctx.traceId, TRACE);
  assert.equal(ctx.parentSpanId, PARENT);
  assert.deepEqual([...reads], [["traceparent", 1]]);

  // A span and a copy made now read what they share from the root.
  const span = ctx.child("op");
  const copy = ctx.derive({ deadline: ctx.deadline - 1 });
  assert.equal(span.requestId, "req-1");
  assert.equal(copy.requestId, "req-1");
  assert.equal(ctx.requestId, "req-1");
  assert.equal(span.parentSpanId, ctx.spanId);
  assert.equal(copy.spanId, ctx.spanId);
  assert.match(ctx.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(ctx.spanId, PARENT, "the request's span is its own");
  assert.equal(ctx.traceparent(), `00-${TRACE}-${ctx.spanId}-01`);

  assert.equal(ctx.tenantId, "acme");
  assert.equal(ctx.tenantId, "acme");
  assert.deepEqual(Object.fromEntries(reads), {
    traceparent: 1,
    "x-request-id": 1,
    "x-tenant-id": 1,
  });
});

Deno.test("malformed or absent incoming ids are replaced by new ones", () => {
  for (
    const headers of [
      {} as Record<string, string>,
      { traceparent: "00-zz-00-01", "x-request-id": "has space" },
      {
        traceparent: `ff-${TRACE}-${PARENT}-01`,
        "x-request-id": "x".repeat(129),
      },
    ]
  ) {
    const ctx = requestContext(
      new Request("http://x/", { headers }),
      undefined,
      options,
    );
    assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(ctx.traceId, TRACE);
    assert.equal(ctx.parentSpanId, undefined);
    // The kernel's shape: 16 hex.
    assert.match(ctx.requestId, /^[0-9a-f]{16}$/);
    assert.equal(ctx.requestId, ctx.requestId, "generated once");
    assert.equal(ctx.traceId, ctx.child("op").traceId);
    assert.equal(ctx.tenantId, undefined);
  }
});

Deno.test("an incoming traceparent in upper case or padded gives its ids in lower case; all-zero ids are replaced", () => {
  const padded = requestContext(
    new Request("http://x/", {
      headers: { traceparent: ` 00-${TRACE.toUpperCase()}-${PARENT}-01 ` },
    }),
    undefined,
    options,
  );
  assert.equal(padded.traceId, TRACE);
  assert.equal(padded.parentSpanId, PARENT);
  assert.equal(padded.traceparent(), `00-${TRACE}-${padded.spanId}-01`);
  for (
    const traceparent of [
      `00-${"0".repeat(32)}-${PARENT}-01`,
      `00-${TRACE}-${"0".repeat(16)}-01`,
    ]
  ) {
    const ctx = requestContext(
      new Request("http://x/", { headers: { traceparent } }),
      undefined,
      options,
    );
    assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(ctx.traceId, "0".repeat(32));
    assert.equal(ctx.parentSpanId, undefined, traceparent);
  }
});
