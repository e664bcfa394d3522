/**
 * How KV values become bytes. The kernel stores opaque bytes; this module decides their
 * format. Values are structured-cloneable, as in Deno KV:
 *
 * - JSON-exact values (plain objects and arrays of strings, finite numbers other than -0,
 *   booleans and null) are stored as tagged UTF-8 JSON: fast to write and read.
 * - Everything else structured clone allows (bigint, undefined, Date, RegExp, Map, Set,
 *   typed arrays, NaN, -0, cycles...) goes through `node:v8` serialization, the same
 *   format Deno KV uses. It is exact but about 30 times slower in Deno today.
 *
 * @module
 */

import { deserialize, serialize } from "node:v8";
import { decodeUtf8 } from "./utf8.ts";

const JSON_TAG = 0x4a; // "J"
const V8_TAG = 0x56; // "V"

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

/** Serializes a value for the store. */
export function encodeValue(value: unknown): Uint8Array<ArrayBuffer> {
  if (jsonExact(value)) {
    const json = utf8.encode(" " + JSON.stringify(value));
    json[0] = JSON_TAG;
    return json;
  }
  const v8 = serialize(value);
  const out = new Uint8Array(v8.length + 1);
  out[0] = V8_TAG;
  out.set(v8, 1);
  return out;
}

/** Reads a value written by {@linkcode encodeValue}. */
export function decodeValue(bytes: Uint8Array): unknown {
  switch (bytes[0]) {
    case JSON_TAG:
      return JSON.parse(decodeUtf8(bytes.subarray(1)));
    case V8_TAG:
      return deserialize(bytes.subarray(1));
    default:
      throw new TypeError(`unknown KV value format ${bytes[0]}`);
  }
}
