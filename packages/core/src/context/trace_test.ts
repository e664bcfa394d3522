import assert from "node:assert/strict";
import {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
} from "./trace.ts";

Deno.test("a valid traceparent round-trips", () => {
  const header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const tp = parseTraceparent(header);
  assert.deepEqual(tp, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    parentSpanId: "00f067aa0ba902b7",
    flags: 1,
  });
  assert.equal(formatTraceparent(tp!.traceId, tp!.parentSpanId, 1), header);
});

Deno.test("malformed traceparent headers are ignored", () => {
  for (
    const bad of [
      "",
      "garbage",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
    ]
  ) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  assert.equal(parseTraceparent(null), undefined);
});

Deno.test("generated ids are well-formed and distinct", () => {
  const traces = new Set(Array.from({ length: 100 }, newTraceId));
  assert.equal(traces.size, 100);
  for (const id of traces) assert.match(id, /^[0-9a-f]{32}$/);
  assert.match(newSpanId(), /^[0-9a-f]{16}$/);
});

Deno.test("a traceparent in upper case or with padding is normalised", () => {
  const tp = parseTraceparent(
    "  00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01 ",
  );
  assert.deepEqual(tp, {
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    parentSpanId: "00f067aa0ba902b7",
    flags: 1,
  });
  assert.equal(
    parseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
    ),
    undefined,
  );
});
