/**
 * Control-plane messages as plain numbers. protobuf-es decodes every 64-bit integer field
 * to `bigint` and deliberately ignores `[jstype = JS_NUMBER]`, so the SDK converts the
 * counters and sizes it hands to users here, in one place, instead of field by field.
 *
 * @module
 */

/**
 * `M` with its `bigint` fields as `number`, without protobuf-es's `$typeName`/`$unknown`.
 *
 * @example
 * ```ts
 * import type { Numeric } from "./numeric.ts";
 * const stats: Numeric<{ $typeName: "x"; total: bigint; name: string }> = { total: 1, name: "a" };
 * ```
 */
export type Numeric<M> = {
  [K in keyof M as K extends `$${string}` ? never : K]: M[K] extends bigint
    ? number
    : M[K];
};

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Copies a decoded message with its `bigint` fields as numbers. A value beyond 2^53 − 1
 * cannot be a number exactly: it is a `RangeError` naming the field, not a silent rounding.
 *
 * @example
 * ```ts
 * import { numeric } from "./numeric.ts";
 * const n = numeric({ $typeName: "krepis.v1.KernelStats", liveHandles: 3n, uptimeMs: 1500n });
 * console.assert(n.liveHandles === 3 && n.uptimeMs === 1500 && !("$typeName" in n));
 * ```
 */
export function numeric<M extends object>(message: M): Numeric<M> {
  const out: Record<string, unknown> = {};
  // Index loops, not `for…of`: `serve()`'s stats must not depend on the array iterator,
  // which user code can replace.
  const fields = Object.keys(message);
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i];
    const value = (message as Record<string, unknown>)[field];
    if (field.startsWith("$")) continue;
    if (typeof value !== "bigint") {
      out[field] = value;
    } else if (value > MAX || value < -MAX) {
      throw new RangeError(`${field} = ${value} does not fit a number exactly`);
    } else {
      out[field] = Number(value);
    }
  }
  return out as Numeric<M>;
}
