import assert from "node:assert/strict";
import { Loans } from "./loans.ts";

function lend(loans: Loans, body: string | Uint8Array) {
  let lent: Uint8Array<ArrayBuffer> | undefined;
  const token = loans.lend(body, (bytes) => {
    lent = bytes;
  });
  return { token, bytes: lent! };
}

Deno.test("a lent body is a copy the caller's bytes cannot change", () => {
  const loans = new Loans();
  const body = new Uint8Array(100_000).fill(7);
  const { bytes } = lend(loans, body);
  body.fill(0);
  body.buffer.transfer(0);
  assert.equal(bytes.length, 100_000);
  assert.ok(bytes.every((b) => b === 7));
  assert.notEqual(bytes.buffer, body.buffer);
  assert.equal(loans.size, 1);
});

Deno.test("a returned buffer is reused for the next body of its size", () => {
  const loans = new Loans();
  const first = lend(loans, new Uint8Array(70_000).fill(1));
  const buffer = first.bytes.buffer;
  assert.equal(buffer.byteLength, 128 * 1024);
  loans.returned(first.token);
  assert.equal(loans.size, 0);
  const second = lend(loans, new Uint8Array(100_000).fill(2));
  assert.equal(second.bytes.buffer, buffer);
  assert.equal(second.bytes.length, 100_000);
  assert.ok(second.bytes.every((b) => b === 2));
  // Returning a token twice, or one never lent, changes nothing.
  loans.returned(first.token);
  loans.returned(12345);
  assert.equal(loans.size, 1);
});

Deno.test("buffers beyond the idle limit, and large ones, are freed when returned", () => {
  const loans = new Loans(256 * 1024);
  const a = lend(loans, new Uint8Array(200_000));
  const b = lend(loans, new Uint8Array(200_000));
  const big = lend(loans, new Uint8Array((16 << 20) + 1));
  loans.returned(a.token);
  loans.returned(b.token);
  loans.returned(big.token);
  assert.equal(a.bytes.buffer.byteLength, 256 * 1024, "kept for reuse");
  assert.equal(b.bytes.buffer.byteLength, 0, "over the idle limit: freed");
  assert.equal(big.bytes.buffer.byteLength, 0, "above the pooled sizes: freed");
});

Deno.test("a string is encoded, and a failed hand-over records no loan", () => {
  const loans = new Loans();
  const { bytes } = lend(loans, "é".repeat(40_000));
  assert.equal(bytes.length, 80_000);
  assert.equal(new TextDecoder().decode(bytes), "é".repeat(40_000));
  assert.throws(
    () =>
      loans.lend(new Uint8Array(70_000), () => {
        throw new TypeError("refused");
      }),
    TypeError,
  );
  assert.equal(loans.size, 1);
  loans.clear();
  assert.equal(loans.size, 0);
});
