import assert from "node:assert/strict";
import { RES_BODY_LEN, RESPONSE_FIXED } from "@krepis/bindings";
import { KIND_RESPOND, writeResponse } from "./records.ts";
import { PendingTable } from "./pending.ts";

function region(size = 4096) {
  const buffer = new ArrayBuffer(size);
  return { buffer, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
}

function record(
  headers: readonly string[],
  body: string,
  more?: readonly string[],
): Uint8Array {
  const out = region();
  const head = {
    kind: KIND_RESPOND,
    flags: 0,
    status: 200,
    id: 9,
    headers,
    more,
  };
  const len = writeResponse(out, 0, head, body);
  assert.ok(len > 0);
  return out.bytes.slice(0, len);
}

Deno.test("a frozen header list (written as one cached block) gives the same record bytes as a fresh one, also with more pairs after it", () => {
  const lists = [
    ["content-type", "text/plain;charset=UTF-8"],
    ["content-type", "application/json"],
    ["content-type", "text/html", "x-a", "caf\u00e9"],
  ];
  // Three frozen lists in turn: more than the cache holds, so entries are replaced.
  const frozen = lists.map((list) => Object.freeze([...list]));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < lists.length; i++) {
      assert.deepEqual(record(frozen[i], "hi"), record([...lists[i]], "hi"));
      // With more pairs after it, the block is split around their table entries.
      const more = ["traceparent", `00-${"ab".repeat(16)}-${i}`, "x-id", "r"];
      assert.deepEqual(
        record(frozen[i], "hi", more),
        record([...lists[i], ...more], "hi"),
      );
    }
  }
});

Deno.test("a cached header list that no longer fits the outbox is refused, not cut", () => {
  const list = Object.freeze(["x-long", "v".repeat(100)]);
  const head = {
    kind: KIND_RESPOND,
    flags: 0,
    status: 200,
    id: 1,
    headers: list,
  };
  assert.ok(writeResponse(region(), 0, head, null) > 0);
  assert.equal(writeResponse(region(96), 0, head, null), -1);
});

Deno.test("pending requests are found by their full id, also when slot numbers collide or are large", () => {
  const table = new PendingTable<{ id: number }>();
  const a = { id: 2 ** 32 + 7 };
  const b = { id: 2 * 2 ** 32 + 7 }; // same slot, another generation: kept aside
  const c = { id: 5 * 2 ** 32 + 70_000 }; // slot beyond the array
  table.add(a);
  table.add(b);
  table.add(c);
  assert.equal(table.get(a.id), a);
  assert.equal(table.get(b.id), b);
  assert.equal(table.get(c.id), c);
  assert.equal(table.get(3 * 2 ** 32 + 7), undefined);
  assert.equal(table.values().length, 3);
  table.delete(a);
  assert.equal(table.get(a.id), undefined);
  assert.equal(table.get(b.id), b);
  table.delete(b);
  table.delete(c);
  assert.deepEqual(table.values(), []);
});

Deno.test("a string body is its UTF-8 bytes at every length, written by hand or by encodeInto, and is refused when it does not fit", () => {
  const encoder = new TextEncoder();
  for (const n of [0, 1, 13, 63, 64, 65, 80, 99, 128, 129, 300]) {
    for (const tail of ["", "\u00e9", "\u{1F600}"]) {
      const body = "a".repeat(Math.max(0, n - tail.length)) + tail;
      const bytes = encoder.encode(body);
      const rec = record([], body);
      // No headers: the body follows the fixed part.
      const len = new DataView(rec.buffer).getUint32(RES_BODY_LEN, true);
      assert.equal(len, bytes.length, `length ${n}${tail && " + non-ASCII"}`);
      assert.deepEqual(
        rec.subarray(RESPONSE_FIXED, RESPONSE_FIXED + len),
        bytes,
      );
      // One byte short of room: -1, whichever way the string would be written.
      const room = region(RESPONSE_FIXED + bytes.length - 1);
      const head = {
        kind: KIND_RESPOND,
        flags: 0,
        status: 200,
        id: 1,
        headers: [],
      };
      if (bytes.length > 0) {
        assert.equal(writeResponse(room, 0, head, body), -1);
      }
    }
  }
});
