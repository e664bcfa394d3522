/**
 * The TypeScript KV key codec against the golden vectors shared with the kernel's codec
 * (`testdata/kv_key_vectors.json`, also checked by
 * `crates/krepis-kernel/tests/kv_key_vectors.rs`): a change to either codec alone fails one
 * of the two tests.
 */

import assert from "node:assert/strict";
import { loadKernel } from "../native/loader.ts";
import { decodeKey, encodeKey, type KvKeyPart } from "./kv_key.ts";
import { kvError } from "./kv_error.ts";

type VectorPart =
  | { bytes: string }
  | { string: string }
  | { bigint: string }
  | { number: string }
  | { boolean: boolean };

interface Vectors {
  keys: { name: string; key: VectorPart[]; hex: string }[];
  malformed: { name: string; hex: string; error: string }[];
}

const vectors: Vectors = JSON.parse(
  await Deno.readTextFile(
    new URL("../../../../testdata/kv_key_vectors.json", import.meta.url),
  ),
);

const fromHex = (hex: string) =>
  new Uint8Array(hex.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
const toHex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function part(p: VectorPart): KvKeyPart {
  if ("bytes" in p) return fromHex(p.bytes);
  if ("string" in p) return p.string;
  if ("bigint" in p) {
    return p.bigint.startsWith("-")
      ? -BigInt(p.bigint.slice(1))
      : BigInt(p.bigint);
  }
  if ("number" in p) return Number(p.number);
  return p.boolean;
}

Deno.test("encodeKey and decodeKey match the golden vectors", () => {
  assert.ok(vectors.keys.length > 40, "the vectors file lost entries");
  for (const { name, key, hex } of vectors.keys) {
    const parts = key.map(part);
    assert.equal(toHex(encodeKey(parts)), hex, `encode: ${name}`);
    const decoded = decodeKey(fromHex(hex));
    assert.equal(decoded.length, parts.length, `decode: ${name}`);
    decoded.forEach((d, i) => {
      // Object.is tells -0 from 0 and equates NaN with NaN.
      if (typeof d === "number") assert.ok(Object.is(d, parts[i]), name);
      else assert.deepEqual(d, parts[i], `decode: ${name}`);
    });
  }
});

Deno.test("golden keys ascend in Deno KV order", () => {
  const encoded = vectors.keys.map((v) => toHex(encodeKey(v.key.map(part))));
  for (let i = 1; i < encoded.length; i++) {
    assert.ok(
      encoded[i - 1] < encoded[i],
      `${vectors.keys[i - 1].name} !< ${vectors.keys[i].name}`,
    );
  }
});

Deno.test("malformed golden keys are refused with the kernel's reason", () => {
  assert.ok(vectors.malformed.length > 20, "the vectors file lost entries");
  for (const { name, hex, error } of vectors.malformed) {
    assert.throws(
      () => decodeKey(fromHex(hex)),
      (e) => e instanceof TypeError && e.message === `malformed key: ${error}`,
      name,
    );
  }
});

Deno.test("the kernel refuses malformed keys with the TypeError decodeKey throws", async () => {
  // A list selector is the one place raw key bytes from TypeScript reach the kernel's
  // decoder; the public API encodes keys itself, so the test frames them by hand.
  const { bindings } = await loadKernel();
  const dir = await Deno.makeTempDir({ prefix: "krepis-kv-vectors-" });
  const kv = await bindings.kvOpen(new TextEncoder().encode(dir), 0);
  try {
    const out = new Uint8Array(64 * 1024);
    for (const { name, hex } of vectors.malformed) {
      const prefix = fromHex(hex);
      const selector = new Uint8Array(3 + prefix.length);
      selector[0] = 1; // prefix only
      new DataView(selector.buffer).setUint16(1, prefix.length, true);
      selector.set(prefix, 3);
      let kernel: unknown;
      try {
        bindings.kvList(kv, selector, new Uint8Array(), 0, 1, out);
      } catch (e) {
        kernel = kvError(e);
      }
      let local: unknown;
      try {
        decodeKey(prefix);
      } catch (e) {
        local = e;
      }
      assert.ok(kernel instanceof TypeError, `${name}: ${kernel}`);
      assert.ok(local instanceof TypeError, name);
      assert.equal(kernel.message, local.message, name);
    }
  } finally {
    bindings.kvClose(kv);
    await Deno.remove(dir, { recursive: true });
  }
});
