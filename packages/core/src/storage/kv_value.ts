/**
 * How KV values become bytes, with the kinds Deno KV stores (the kernel keeps the kind
 * beside the bytes):
 *
 * - `Uint8Array` → its bytes, as is; `KvU64` → 8 bytes little-endian (what `sum`, `min`,
 *   `max` work on);
 * - everything else structured clone carries → V8 serialization, the very serializer
 *   `Deno.openKv` uses (Deno's `core.serialize` with `forStorage`), so Blob, Date, Map,
 *   Error subclasses, DOMException... keep their class, and values it refuses throw the
 *   same `TypeError` ("… could not be cloned.");
 * - a fast path: values JSON represents exactly (plain objects and arrays of strings,
 *   finite numbers, booleans and null) whose JSON is at most 16 KiB are stored as JSON,
 *   read back identically and faster. Their V8 form is never larger than 4× their JSON,
 *   so the 65,536-byte limit (which Deno applies to the V8 form) cannot be crossed there.
 *
 * Why an internal: `core.serialize` is reached through `Deno[Deno.internal]`, which is not
 * a public API. The public `node:v8` `serialize`/`deserialize` was compared with
 * `Deno.openKv` on every value type (Deno 2.9.6) and is not equivalent: a Blob or File
 * comes back as `{}`, a DOMException as a plain `Error`, a DataView over a different
 * buffer (the whole serialized input), a MessagePort is stored instead of refused,
 * refusals are `Error` instead of `TypeError`, and it cannot read back Blob, File or
 * DOMException values already stored (Deno's host-object format: "t is not a
 * constructor"). Its speed is no reason either way: serialize + deserialize of a small
 * object (Date, Set) took 39–40 µs with `node:v8` and 42–68 µs with `core`, of 100 nested
 * records 447–636 µs and 332–337 µs (two runs on a loaded machine; `bench:storage` stores
 * JSON values, which never reach this serializer). So the internal stays; when a Deno release removes it, storing or
 * reading a V8-serialized value throws a clear error (JSON, bytes and `KvU64` values keep
 * working) instead of silently writing a different format.
 *
 * @module
 */

import { decodeUtf8 } from "./utf8.ts";
import { KvU64 } from "./kv_u64.ts";

/** Value kinds, as the kernel (`kv::ops::ValueKind`) numbers them. */
export const V8 = 1, BYTES = 2, U64 = 3, JSON_KIND = 4;

/** The largest JSON stored as JSON (see the module doc). */
const JSON_MAX = 16 * 1024;

/** The part of Deno's internal `core` the store uses. */
export interface DenoSerializer {
  /** V8 serialization with Deno's host objects. */
  serialize(value: unknown, options: { forStorage: boolean }): Uint8Array;
  /** Its inverse. */
  deserialize(
    bytes: Uint8Array,
    options: { forStorage: boolean; deserializers: unknown },
  ): unknown;
  /** Deserializers of Deno's cloneable host objects (Blob, DOMException, ...). */
  getCloneableDeserializers(): unknown;
}

/** Deno's own serializer in `namespace` (`Deno`), or undefined when it is not there. */
export function findDenoSerializer(
  namespace: object,
): DenoSerializer | undefined {
  const internal = Object.getOwnPropertySymbols(namespace).find((s) =>
    s.description === "Deno.internal"
  );
  const found = internal === undefined
    ? undefined
    : (namespace as Record<symbol, { core?: Partial<DenoSerializer> }>)[
      internal
    ]?.core;
  return typeof found?.serialize === "function" &&
      typeof found.deserialize === "function" &&
      typeof found.getCloneableDeserializers === "function"
    ? found as DenoSerializer
    : undefined;
}

const core = findDenoSerializer(Deno);
const deserializers = core?.getCloneableDeserializers();

function requireCore(): DenoSerializer {
  if (core === undefined) {
    throw new Error(
      `Krepis KV cannot store or read this value: Deno ${Deno.version.deno} does not ` +
        "expose its value serializer (Deno[Deno.internal].core.serialize), which Krepis " +
        "uses to store values exactly as Deno.openKv does. JSON values, Uint8Array and " +
        "KvU64 still work; use a Deno version Krepis supports for the rest.",
    );
  }
  return core;
}

function v8Serialize(value: unknown): Uint8Array {
  return requireCore().serialize(value, { forStorage: true });
}

function v8Deserialize(bytes: Uint8Array): unknown {
  return requireCore().deserialize(bytes, { forStorage: true, deserializers });
}

const utf8 = new TextEncoder();

/** Whether `value` survives a JSON round trip unchanged. */
function jsonExact(value: unknown, depth = 0): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value) || !jsonExact(value[i], depth + 1)) return false;
        }
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (!jsonExact((value as Record<string, unknown>)[key], depth + 1)) {
          return false;
        }
      }
      return Object.getOwnPropertySymbols(value).length === 0;
    }
    default:
      return false;
  }
}

/** A value's kind and bytes. */
export interface EncodedValue {
  /** One of {@linkcode V8}, {@linkcode BYTES}, {@linkcode U64}, {@linkcode JSON_KIND}. */
  kind: number;
  /** The encoded value. */
  bytes: Uint8Array;
}

/** The bytes of a `KvU64`. */
export function u64Bytes(n: bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, true);
  return out;
}

function isKvU64(value: unknown): value is { value: bigint } {
  if (value instanceof KvU64) return true;
  // A `Deno.KvU64` from code moving over from `Deno.openKv`.
  const DenoU64 = (Deno as unknown as { KvU64?: new (n: bigint) => unknown })
    .KvU64;
  return DenoU64 !== undefined && value instanceof DenoU64;
}

/** Encodes a value for the store (a message for the queue, too). */
export function encodeValue(value: unknown): EncodedValue {
  // Subclasses (Buffer) too, as Deno tells them by their `Uint8Array` tag.
  if (value instanceof Uint8Array) {
    return { kind: BYTES, bytes: value };
  }
  if (isKvU64(value)) return { kind: U64, bytes: u64Bytes(value.value) };
  if (jsonExact(value)) {
    const json = utf8.encode(JSON.stringify(value));
    if (json.length <= JSON_MAX) return { kind: JSON_KIND, bytes: json };
  }
  return { kind: V8, bytes: v8Serialize(value) };
}

/** Reads a value of `kind` from `bytes`. */
export function decodeValue(kind: number, bytes: Uint8Array): unknown {
  switch (kind) {
    case JSON_KIND:
      return JSON.parse(decodeUtf8(bytes));
    case V8:
      return v8Deserialize(bytes);
    case BYTES:
      return bytes.slice();
    case U64:
      return new KvU64(
        new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true),
      );
    default:
      throw new TypeError("Invalid value type");
  }
}
