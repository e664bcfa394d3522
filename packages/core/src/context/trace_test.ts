import assert from "node:assert/strict";
import {
  checkTraceparent,
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

Deno.test("every one-character change of a traceparent is judged as the W3C grammar says", () => {
  // Reference: the grammar as a regular expression (lower case after normalising).
  const grammar = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
  const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  let accepted = 0;
  for (let i = 0; i < valid.length; i++) {
    for (const c of ["-", "0", "9", "a", "f", "g", "F", "G", " ", "_", "é"]) {
      const header = valid.slice(0, i) + c + valid.slice(i + 1);
      const lower = header.trim().toLowerCase();
      const expected = grammar.test(lower) && !lower.startsWith("ff");
      const tp = parseTraceparent(header);
      assert.equal(tp !== undefined, expected, JSON.stringify(header));
      if (tp) {
        accepted++;
        assert.equal(tp.traceId, lower.slice(3, 35));
        assert.equal(tp.parentSpanId, lower.slice(36, 52));
        assert.equal(tp.flags, parseInt(lower.slice(53), 16));
      }
    }
  }
  assert.ok(accepted > 200, `only ${accepted} variants accepted`);
  assert.equal(
    parseTraceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
    )?.flags,
    255,
  );
});

Deno.test("checkTraceparent accepts what parseTraceparent parses, as the string the parts are sliced from", () => {
  const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const headers = [
    valid,
    ` ${valid.toUpperCase()}\t`,
    "ff" + valid.slice(2),
    valid.slice(0, 3) + "0".repeat(32) + valid.slice(35),
    valid.slice(0, 36) + "0".repeat(16) + valid.slice(52),
    valid + "-",
    valid.slice(1),
    valid.replace("4bf9", "4bé9"),
    "",
    null,
  ];
  // Every one-character change too (the grammar test above judges each).
  for (let i = 0; i < valid.length; i++) {
    for (const c of ["-", "0", "f", "g", "F", " ", "\u0100"]) {
      headers.push(valid.slice(0, i) + c + valid.slice(i + 1));
    }
  }
  let accepted = 0;
  for (const header of headers) {
    const tp = checkTraceparent(header);
    const parsed = parseTraceparent(header);
    assert.equal(
      tp !== undefined,
      parsed !== undefined,
      JSON.stringify(header),
    );
    if (tp === undefined || parsed === undefined) continue;
    accepted++;
    assert.equal(tp, header!.trim().toLowerCase());
    assert.equal(tp.slice(3, 35), parsed.traceId);
    assert.equal(tp.slice(36, 52), parsed.parentSpanId);
  }
  assert.ok(accepted > 50, `only ${accepted} accepted`);
});
