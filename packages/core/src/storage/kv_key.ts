/**
 * Tuple keys in Deno KV's byte encoding, so that the kernel's byte order is Deno KV's key
 * order: Uint8Array < string < bigint < number < boolean, then by value. The kernel
 * (`krepis_kernel::kv::key`) decodes and validates every key it receives.
 *
 * @module
 */

/**
 * One part of a key, as in Deno KV.
 *
 * @example
 * ```ts ignore
 * import type { KvKeyPart } from "@krepis/core/storage";
 * const parts: KvKeyPart[] = ["users", 42, 7n, true, new Uint8Array([1])];
 * ```
 *
 * @example
 * ```ts ignore
 * import type { KvKey } from "@krepis/core/storage";
 * const key: KvKey = ["users", "ada", "settings"];
 * ```
 */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean;

/** A key: a tuple of parts, most significant first. */
export type KvKey = readonly KvKeyPart[];

import { decodeUtf8 } from "./utf8.ts";

const BYTES = 0x01;
const STRING = 0x02;
const NEG_INT_BIG = 0x0b;
const INT_ZERO = 0x14;
const POS_INT_BIG = 0x1d;
const DOUBLE = 0x21;
const FALSE = 0x26;
const TRUE = 0x27;

const utf8 = new TextEncoder();
const f64 = new DataView(new ArrayBuffer(8));

/** A growable byte buffer for building keys. */
class Writer {
  buf = new Uint8Array(64);
  len = 0;
  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  push(byte: number): void {
    this.reserve(1);
    this.buf[this.len++] = byte;
  }
  /** A string part: ASCII written directly, the rest through UTF-8 encoding. */
  text(code: number, s: string): void {
    this.reserve(s.length * 3 + 2);
    const buf = this.buf;
    let len = this.len;
    buf[len++] = code;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.len = len - 1;
        return this.escaped(code, utf8.encode(s));
      }
      buf[len++] = c;
      if (c === 0) buf[len++] = 0xff;
    }
    buf[len++] = 0;
    this.len = len;
  }
  escaped(code: number, bytes: Uint8Array): void {
    this.reserve(bytes.length * 2 + 2);
    this.buf[this.len++] = code;
    for (const b of bytes) {
      this.buf[this.len++] = b;
      if (b === 0) this.buf[this.len++] = 0xff;
    }
    this.buf[this.len++] = 0;
  }
  done(): Uint8Array<ArrayBuffer> {
    return this.buf.slice(0, this.len);
  }
}

const shared = new Writer();

/**
 * Encodes `keys` as `[u16 LE length][key]` records in one pass, without a copy per key.
 * The result is a view of a shared buffer: use it before the next encoding call.
 */
export function encodeKeysFramed(
  keys: readonly KvKey[],
): Uint8Array<ArrayBuffer> {
  const w = shared;
  w.len = 0;
  for (const key of keys) {
    if (!Array.isArray(key)) encodeKey(key); // throws Deno's error
    w.reserve(2);
    const at = w.len;
    w.len += 2;
    for (const part of key) appendPart(w, part);
    const len = w.len - at - 2;
    // Far past the kernel's read limit (2049 bytes), and too long to frame.
    if (len > 0xffff) {
      throw new TypeError("Key too large for read (max 2049 bytes)");
    }
    w.buf[at] = len & 0xff;
    w.buf[at + 1] = len >> 8;
  }
  return w.buf.subarray(0, w.len);
}

function bigintPart(w: Writer, value: bigint): void {
  if (value === 0n) return w.push(INT_ZERO);
  const negative = value < 0n;
  let hex = (negative ? -value : value).toString(16);
  if (hex.length % 2) hex = "0" + hex;
  const len = hex.length / 2;
  if (len > 255) {
    throw new RangeError("bigint key part is longer than 255 bytes");
  }
  if (len <= 8) w.push(negative ? INT_ZERO - len : INT_ZERO + len);
  else if (negative) (w.push(NEG_INT_BIG), w.push(len ^ 0xff));
  else (w.push(POS_INT_BIG), w.push(len));
  for (let i = 0; i < len; i++) {
    const byte = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
    w.push(negative ? byte ^ 0xff : byte);
  }
}

/**
 * Encodes `key` into its ordered byte form.
 *
 * @example
 * ```ts
 * import { encodeKey } from "./kv_key.ts";
 * const bytes = encodeKey(["users", 1]);
 * console.assert(bytes[0] === 0x02); // a string part comes first
 * ```
 */
export function encodeKey(key: KvKey): Uint8Array<ArrayBuffer> {
  if (!Array.isArray(key)) {
    throw new TypeError(
      `invalid type; expected: array, got: ${
        key === null ? "null" : typeof key
      }`,
    );
  }
  // One shared buffer: encoding runs no user code, so calls never interleave.
  const w = shared;
  w.len = 0;
  for (const part of key) appendPart(w, part);
  return w.done();
}

function appendPart(w: Writer, part: KvKeyPart): void {
  switch (typeof part) {
    case "string":
      return w.text(STRING, part);
    case "number": {
      f64.setFloat64(0, part);
      const hi = f64.getUint32(0);
      const negative = hi >>> 31 === 1;
      w.reserve(9);
      w.buf[w.len++] = DOUBLE;
      for (let i = 0; i < 8; i++) {
        const b = f64.getUint8(i);
        w.buf[w.len++] = negative ? b ^ 0xff : i === 0 ? b ^ 0x80 : b;
      }
      return;
    }
    case "bigint":
      return bigintPart(w, part);
    case "boolean":
      return w.push(part ? TRUE : FALSE);
    default:
      if (part instanceof Uint8Array) return w.escaped(BYTES, part);
      throw new TypeError(
        "expected string, number, bigint, ArrayBufferView, boolean",
      );
  }
}

/**
 * Decodes a key produced by {@linkcode encodeKey}, refusing anything it would not have
 * produced with the kernel's `TypeError` (`malformed key: <why>`, the same reasons as
 * `krepis_kernel::kv::key::decode`, checked by the shared golden vectors).
 *
 * @example
 * ```ts
 * import { decodeKey, encodeKey } from "./kv_key.ts";
 * console.assert(decodeKey(encodeKey(["a", 1n, true]))[1] === 1n);
 * ```
 */
export function decodeKey(bytes: Uint8Array): KvKeyPart[] {
  const parts: KvKeyPart[] = [];
  let i = 0;
  const malformed = (why: string) => new TypeError(`malformed key: ${why}`);
  while (i < bytes.length) {
    const code = bytes[i++];
    if (code === BYTES || code === STRING) {
      // Find the terminator; only parts holding a zero byte need unescaping.
      let end = i;
      let escaped = false;
      for (;;) {
        if (end >= bytes.length) throw malformed("unterminated part");
        if (bytes[end] === 0) {
          if (bytes[end + 1] !== 0xff) break;
          escaped = true;
          end += 2;
        } else end++;
      }
      let raw = bytes.subarray(i, end);
      if (escaped) {
        const out: number[] = [];
        for (let j = 0; j < raw.length; j++) {
          out.push(raw[j]);
          if (raw[j] === 0) j++;
        }
        raw = new Uint8Array(out);
      }
      i = end + 1;
      if (code === BYTES) parts.push(raw.slice());
      else {
        try {
          parts.push(decodeUtf8(raw));
        } catch {
          throw malformed("string is not UTF-8");
        }
      }
    } else if (code >= NEG_INT_BIG && code <= POS_INT_BIG) {
      const negative = code < INT_ZERO;
      let len = Math.abs(code - INT_ZERO);
      if (code === NEG_INT_BIG || code === POS_INT_BIG) {
        if (i >= bytes.length) throw malformed("bigint length");
        len = negative ? bytes[i++] ^ 0xff : bytes[i++];
        if (len <= 8) throw malformed("non-canonical bigint length");
      }
      if (bytes.length - i < len) throw malformed("truncated bigint");
      const flip = negative ? 0xff : 0;
      if (len > 0 && (bytes[i] ^ flip) === 0) {
        throw malformed("non-canonical bigint");
      }
      let value = 0n;
      for (let j = 0; j < len; j++) {
        value = (value << 8n) | BigInt(bytes[i++] ^ flip);
      }
      parts.push(negative ? -value : value);
    } else if (code === DOUBLE) {
      if (bytes.length - i < 8) throw malformed("truncated number");
      const negative = (bytes[i] & 0x80) === 0;
      for (let j = 0; j < 8; j++) {
        const b = bytes[i + j];
        f64.setUint8(j, negative ? b ^ 0xff : j === 0 ? b ^ 0x80 : b);
      }
      i += 8;
      parts.push(f64.getFloat64(0));
    } else if (code === FALSE || code === TRUE) {
      parts.push(code === TRUE);
    } else {
      throw malformed(
        `unknown type code 0x${code.toString(16).padStart(2, "0")}`,
      );
    }
  }
  return parts;
}
