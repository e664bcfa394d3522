/**
 * Control-plane decoding that does not trust globals user code can replace.
 *
 * `serve()` must work after user code replaced `Array.prototype[Symbol.iterator]` (as
 * `Deno.serve` does). The request path avoids array iteration altogether, but the Protobuf
 * decoder (`@bufbuild/protobuf`) destructures arrays. Its synchronous decodes run with the
 * iterator this module saw when it loaded, and the user's is put back right after; no user
 * code runs in between.
 *
 * @module
 */

const ARRAY_ITERATOR = Array.prototype[Symbol.iterator];

/**
 * Runs `decode` (synchronous) with the built-in array iterator in place.
 *
 * @example
 * ```ts
 * import { withBuiltinArrays } from "./pristine.ts";
 * console.assert(withBuiltinArrays(() => [...[1, 2]].length) === 2);
 * ```
 */
export function withBuiltinArrays<T>(decode: () => T): T {
  const current = Object.getOwnPropertyDescriptor(
    Array.prototype,
    Symbol.iterator,
  );
  if (current?.value === ARRAY_ITERATOR || !current?.configurable) {
    return decode();
  }
  Object.defineProperty(Array.prototype, Symbol.iterator, {
    configurable: true,
    writable: true,
    enumerable: false,
    value: ARRAY_ITERATOR,
  });
  try {
    return decode();
  } finally {
    Object.defineProperty(Array.prototype, Symbol.iterator, current);
  }
}
