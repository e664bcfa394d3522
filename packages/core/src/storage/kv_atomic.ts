/**
 * Atomic operations: checks, mutations and enqueues collected in the kernel's binary form
 * (`krepis_kernel::kv::ops`) and committed together.
 *
 * @module
 */

import { encodeKey, type KvKey, type KvKeyPart } from "./kv_key.ts";
import { type EncodedValue, encodeValue, U64, u64Bytes } from "./kv_value.ts";
import { KvU64 } from "./kv_u64.ts";

/**
 * "The key holds this versionstamp", or "the key is absent" when `null`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const current = await kv.get(["k"]); // an entry is an AtomicCheck
 * await kv.atomic().check(current).delete(["k"]).commit();
 * ```
 */
export interface AtomicCheck {
  /** The key to check. */
  key: KvKey;
  /** The versionstamp it must have, or `null` for "absent". */
  versionstamp: string | null;
}

/**
 * One mutation for {@linkcode AtomicOperation.mutate}, as `Deno.KvMutation`.
 *
 * @example
 * ```ts ignore
 * import { KvU64, openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * await kv.atomic().mutate(
 *   { type: "set", key: ["a"], value: 1 },
 *   { type: "sum", key: ["hits"], value: new KvU64(1n) },
 *   { type: "delete", key: ["old"] },
 * ).commit();
 * ```
 */
export type KvMutation =
  & { key: KvKey }
  & (
    | { type: "set"; value: unknown; expireIn?: number }
    | { type: "delete" }
    | { type: "sum"; value: KvU64 }
    | { type: "max"; value: KvU64 }
    | { type: "min"; value: KvU64 }
  );

/**
 * Options of `enqueue`, as Deno KV's.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * await kv.enqueue({ mail: "ada" }, {
 *   delay: 1000,
 *   backoffSchedule: [100, 1000],
 *   keysIfUndelivered: [["failed", "ada"]],
 * });
 * ```
 */
export interface KvEnqueueOptions {
  /** Milliseconds before delivery (at most 30 days). */
  delay?: number;
  /** Keys the message is written to when every delivery attempt failed. */
  keysIfUndelivered?: KvKey[];
  /** Waits (ms) between attempts; at most 5, each at most an hour. */
  backoffSchedule?: number[];
}

/**
 * A successful commit.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const { versionstamp } = await kv.set(["k"], 1);
 * console.log(versionstamp);
 * ```
 */
export interface KvCommitResult {
  /** Always `true`. */
  ok: true;
  /** The versionstamp given to every mutation of the commit. */
  versionstamp: string;
}

/**
 * A commit refused because a check failed; nothing was changed.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const r = await kv.atomic().check({ key: ["k"], versionstamp: null }).set(["k"], 1).commit();
 * if (!r.ok) console.log("k exists already");
 * ```
 */
export interface KvCommitError {
  /** Always `false`. */
  ok: false;
}

/** The key part `commitVersionstamp()` returns. */
export const COMMIT_VERSIONSTAMP: unique symbol = Symbol(
  "KvCommitVersionstamp",
);

/** Commits encoded records; resolves to the versionstamp, or null when a check failed. */
export type CommitOps = (
  ops: Uint8Array<ArrayBuffer>,
) => Promise<string | null>;

const MAX_DELAY = 30 * 24 * 60 * 60 * 1000;
const MAX_BACKOFF_INTERVALS = 5;
const MAX_BACKOFF_INTERVAL = 60 * 60 * 1000;

/** Checks `expireIn` as Deno does (a non-negative integer). */
export function validateExpireIn(expireIn: number | undefined): void {
  if (expireIn === undefined) return;
  if (!Number.isInteger(expireIn) || expireIn < 0) {
    throw new TypeError(
      `expireIn must be a non-negative integer: received ${expireIn}`,
    );
  }
}

/** Checks enqueue options as Deno does. */
export function validateEnqueue(options?: KvEnqueueOptions): void {
  const delay = options?.delay;
  if (delay !== undefined) {
    if (delay < 0) throw new TypeError(`Delay must be >= 0: received ${delay}`);
    if (delay > MAX_DELAY) {
      throw new TypeError(
        `Delay cannot be greater than 30 days: received ${delay}`,
      );
    }
    if (Number.isNaN(delay)) throw new TypeError("Delay cannot be NaN");
  }
  const schedule = options?.backoffSchedule;
  if (schedule === undefined) return;
  if (schedule.length > MAX_BACKOFF_INTERVALS) {
    throw new TypeError(
      `Invalid backoffSchedule, max ${MAX_BACKOFF_INTERVALS} intervals allowed`,
    );
  }
  schedule.forEach((interval, i) => {
    if (
      interval < 0 || interval > MAX_BACKOFF_INTERVAL || Number.isNaN(interval)
    ) {
      throw new TypeError(
        `Invalid backoffSchedule, interval at index ${i} is invalid`,
      );
    }
  });
}

function stampBytes(stamp: string): Uint8Array | undefined {
  if (!/^[0-9a-f]{20}$/.test(stamp)) return undefined;
  const out = new Uint8Array(10);
  for (let i = 0; i < 10; i++) {
    out[i] = parseInt(stamp.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/** Appends the little-endian records of an atomic write (see kernel `kv::ops`). */
class OpWriter {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(n: number): void {
    this.#reserve(1);
    this.#buf[this.#len++] = n;
  }

  u16(n: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.#len, n, true);
    this.#len += 2;
  }

  u32(n: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#len, n, true);
    this.#len += 4;
  }

  u64(n: number): void {
    this.#reserve(8);
    this.#view.setBigUint64(this.#len, BigInt(n), true);
    this.#len += 8;
  }

  raw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  key(key: Uint8Array): void {
    this.u16(key.length);
    this.raw(key);
  }

  value(value: EncodedValue): void {
    this.u8(value.kind);
    this.u32(value.bytes.length);
    this.raw(value.bytes);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(0, this.#len);
  }
}

const MUTATION_KIND = { set: 1, delete: 2, sum: 3, min: 4, max: 5 } as const;
const SET_VERSIONSTAMPED = 6;

type Shown = [op: string, key: unknown, value?: unknown, extra?: unknown];

/**
 * Collects checks, mutations and enqueues and commits them all together, or none when a
 * check fails — as `Deno.AtomicOperation`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const current = await kv.get<number>(["counter"]);
 * const result = await kv.atomic()
 *   .check(current)
 *   .set(["counter"], (current.value ?? 0) + 1)
 *   .commit();
 * if (!result.ok) console.log("someone else won; retry");
 * ```
 */
export class AtomicOperation {
  #commit: CommitOps;
  #ops = new OpWriter();
  /** A key that could not be encoded: Deno reports it when committing. */
  #deferred: unknown;
  #shown: Shown[] = [];

  /** Use `kv.atomic()`. */
  constructor(commit: CommitOps) {
    this.#commit = commit;
  }

  #key(key: readonly unknown[]): Uint8Array {
    try {
      return encodeKey(key as KvKey);
    } catch (error) {
      this.#deferred ??= error;
      return new Uint8Array();
    }
  }

  /** Adds checks: each key must hold the given versionstamp (`null`: be absent). */
  check(...checks: AtomicCheck[]): this {
    for (const c of checks) {
      const key = this.#key(c.key);
      this.#ops.u8(1);
      this.#ops.key(key);
      if (c.versionstamp === null) this.#ops.u8(0);
      else {
        const stamp = stampBytes(String(c.versionstamp));
        if (!stamp) this.#deferred ??= new TypeError("Invalid check");
        this.#ops.u8(1);
        this.#ops.raw(stamp ?? new Uint8Array(10));
      }
      this.#shown.push(["check", c.key, c.versionstamp]);
    }
    return this;
  }

  #mutation(
    kind: number,
    key: readonly unknown[],
    value: EncodedValue | undefined,
    expireIn?: number,
  ): void {
    this.#ops.u8(2);
    this.#ops.u8(kind);
    this.#ops.key(this.#key(key));
    if (expireIn === undefined) this.#ops.u8(0);
    else (this.#ops.u8(1), this.#ops.u64(expireIn));
    if (value) this.#ops.value(value);
  }

  /** Adds mutations given as objects (`set`, `delete`, `sum`, `min`, `max`). */
  mutate(...mutations: KvMutation[]): this {
    for (const m of mutations) {
      const type = m.type as string;
      if (type === "delete") {
        if ((m as { value?: unknown }).value) {
          throw new TypeError("Invalid mutation 'delete' with value");
        }
        this.delete(m.key);
        continue;
      }
      if (!(type in MUTATION_KIND)) {
        throw new TypeError("Invalid mutation type");
      }
      if (type === "set") {
        validateExpireIn((m as { expireIn?: number }).expireIn);
      }
      if (!Object.hasOwn(m, "value")) {
        throw new TypeError(`Invalid mutation '${type}' without value`);
      }
      const value = (m as { value: unknown }).value;
      const expireIn = type === "set"
        ? (m as { expireIn?: number }).expireIn
        : undefined;
      this.#mutation(
        MUTATION_KIND[type as keyof typeof MUTATION_KIND],
        m.key,
        encodeValue(value),
        expireIn,
      );
      this.#shown.push([type, m.key, value, expireIn]);
    }
    return this;
  }

  #u64(op: "sum" | "min" | "max", key: KvKey, n: bigint): this {
    const value = new KvU64(n);
    this.#mutation(MUTATION_KIND[op], key, {
      kind: U64,
      bytes: u64Bytes(value.value),
    });
    this.#shown.push([op, key, value]);
    return this;
  }

  /** Adds `n` to the `KvU64` under `key` (wrapping at 2^64), or sets it when absent. */
  sum(key: KvKey, n: bigint): this {
    return this.#u64("sum", key, n);
  }

  /** Keeps the smaller of `n` and the `KvU64` under `key` (sets it when absent). */
  min(key: KvKey, n: bigint): this {
    return this.#u64("min", key, n);
  }

  /** Keeps the larger of `n` and the `KvU64` under `key` (sets it when absent). */
  max(key: KvKey, n: bigint): this {
    return this.#u64("max", key, n);
  }

  /**
   * Adds a write of `value` under `key`, optionally expiring after `expireIn` ms. A last
   * key part of `kv.commitVersionstamp()` becomes the commit's versionstamp.
   */
  set(
    key: readonly (KvKeyPart | symbol)[],
    value: unknown,
    options?: { expireIn?: number },
  ): this {
    validateExpireIn(options?.expireIn);
    const encoded = encodeValue(value);
    if (Array.isArray(key) && key.at(-1) === COMMIT_VERSIONSTAMP) {
      this.#mutation(SET_VERSIONSTAMPED, key.slice(0, -1), encoded);
    } else {
      this.#mutation(MUTATION_KIND.set, key, encoded, options?.expireIn);
    }
    this.#shown.push(["set", key, value, options?.expireIn]);
    return this;
  }

  /** Adds a removal of `key`. */
  delete(key: KvKey): this {
    this.#mutation(MUTATION_KIND.delete, key, undefined);
    this.#shown.push(["delete", key]);
    return this;
  }

  /** Adds a queue message, delivered to `listenQueue` handlers once committed. */
  enqueue(message: unknown, options?: KvEnqueueOptions): this {
    validateEnqueue(options);
    const payload = encodeValue(message);
    const ops = this.#ops;
    ops.u8(3);
    ops.u64(options?.delay ?? 0);
    ops.value(payload);
    const schedule = options?.backoffSchedule;
    if (schedule === undefined) ops.u8(0);
    else {
      ops.u8(1);
      ops.u8(schedule.length);
      for (const wait of schedule) ops.u32(wait);
    }
    const keys = options?.keysIfUndelivered ?? [];
    ops.u16(keys.length);
    for (const key of keys) ops.key(this.#key(key));
    this.#shown.push(["enqueue", message, undefined, options]);
    return this;
  }

  /** Commits: `{ ok: true, versionstamp }`, or `{ ok: false }` when a check failed. */
  async commit(): Promise<KvCommitResult | KvCommitError> {
    if (this.#deferred !== undefined) throw this.#deferred;
    const versionstamp = await this.#commit(this.#ops.bytes());
    return versionstamp === null ? { ok: false } : { ok: true, versionstamp };
  }

  /** Refuses `await kv.atomic()` without `commit()`, as Deno does. */
  then(): never {
    throw new TypeError(
      "'Deno.AtomicOperation' is not a promise: did you forget to call 'commit()'",
    );
  }

  /** Lists the collected operations the way Deno shows its own. */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options: unknown) => string,
    options: unknown,
  ): string {
    const show = (v: unknown) => inspect(v, options);
    const lines = this.#shown.map(([op, key, value, extra]) => {
      switch (op) {
        case "check":
          return `  check({ key: ${show(key)}, versionstamp: ${
            value === null ? "null" : `"${value}"`
          } })`;
        case "delete":
          return `  delete(${show(key)})`;
        case "enqueue": {
          const o = extra as KvEnqueueOptions | undefined;
          const parts = [];
          if (o?.delay) parts.push(`delay: ${o.delay}`);
          if (o?.keysIfUndelivered?.length) {
            parts.push(`keysIfUndelivered: ${show(o.keysIfUndelivered)}`);
          }
          if (o?.backoffSchedule) {
            parts.push(`backoffSchedule: ${show(o.backoffSchedule)}`);
          }
          return parts.length
            ? `  enqueue(${show(key)}, { ${parts.join(", ")} })`
            : `  enqueue(${show(key)})`;
        }
        default:
          return op === "set" && extra !== undefined
            ? `  set(${show(key)}, ${show(value)}, { expireIn: ${extra} })`
            : `  ${op}(${show(key)}, ${show(value)})`;
      }
    });
    // Deno lists checks, then mutations, then enqueues.
    const rank = (line: string) =>
      line.startsWith("  check(") ? 0 : line.startsWith("  enqueue(") ? 2 : 1;
    const ordered = lines.map((line, i) => [rank(line), i, line] as const)
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, , line]) => line);
    return ordered.length
      ? `AtomicOperation\n${ordered.join("\n")}`
      : "AtomicOperation (empty)";
  }
}
