/**
 * `KvU64`: a 64-bit unsigned integer value that `sum`, `min` and `max` mutations work on,
 * like `Deno.KvU64`.
 *
 * @module
 */

const MAX_U64 = 0xffffffffffffffffn;

/**
 * A 64-bit unsigned integer stored in the KV, the operand and result of `sum` (wrapping),
 * `min` and `max` mutations — as `Deno.KvU64`.
 *
 * @example
 * ```ts ignore
 * import { KvU64, openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * await kv.atomic().sum(["visits"], 1n).commit();
 * const visits = await kv.get<KvU64>(["visits"]);
 * console.log(visits.value?.value); // 1n
 * ```
 */
export class KvU64 {
  /** The number. */
  readonly value: bigint;

  /** Wraps `value`, which must be a bigint in `[0, 2^64)`. */
  constructor(value: bigint) {
    if (typeof value !== "bigint") {
      throw new TypeError(`Value must be a bigint: received ${typeof value}`);
    }
    if (value < 0n) {
      throw new RangeError(
        `Value must be a positive bigint: received ${value}`,
      );
    }
    if (value > MAX_U64) {
      throw new RangeError("Value must fit in a 64-bit unsigned integer");
    }
    this.value = value;
    Object.freeze(this);
  }

  /** The bigint. */
  valueOf(): bigint {
    return this.value;
  }

  /** Decimal digits. */
  toString(): string {
    return this.value.toString();
  }

  /** `Deno.KvU64`, as Deno's class reports. */
  get [Symbol.toStringTag](): string {
    return "Deno.KvU64";
  }

  /** Shown as Deno shows its own: `[Deno.KvU64: 5n]`. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options: unknown) => string,
    options: unknown,
  ): string {
    return inspect(Object(this.value), options).replace("BigInt", "Deno.KvU64");
  }
}
