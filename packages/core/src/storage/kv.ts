/**
 * An embedded key-value store shaped like Deno KV (`Deno.openKv`), backed by sled in the
 * Krepis kernel. Data lives in `.krepis/kv` by default; no server to install.
 *
 * Differences from Deno KV: no queues (`enqueue`/`listenQueue`), no `Deno.KvU64`
 * mutations (`sum`/`min`/`max`), no `watch`; one process at a time may open a store
 * (workers of that process share it).
 *
 * @module
 */

import type { KernelBindings } from "@krepis/bindings";
import { loadKernel } from "../native/loader.ts";
import { decodeKey, encodeKey, type KvKey, withSuffix } from "./kv_key.ts";
import { decodeValue, encodeValue } from "./kv_value.ts";
import { OwnedHandle } from "./handle.ts";

/**
 * A stored entry.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const entry = await kv.get<string>(["greeting"]);
 * if (entry.versionstamp !== null) console.log(entry.value.toUpperCase());
 * ```
 */
export interface KvEntry<T> {
  /** The entry's key. */
  key: KvKey;
  /** The stored value. */
  value: T;
  /** The versionstamp of the commit that wrote it: 20 hex digits, growing. */
  versionstamp: string;
}

/**
 * The result of a read: an entry, or `null` value and versionstamp when absent.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const maybe = await kv.get(["missing"]);
 * console.assert(maybe.value === null && maybe.versionstamp === null);
 * ```
 */
export type KvEntryMaybe<T> = KvEntry<T> | {
  key: KvKey;
  value: null;
  versionstamp: null;
};

/**
 * Which keys `list` visits, as in Deno KV.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * for await (const e of kv.list({ prefix: ["users"], start: ["users", "m"] })) console.log(e.key);
 * ```
 */
export type KvListSelector =
  | { prefix: KvKey }
  | { prefix: KvKey; start: KvKey }
  | { prefix: KvKey; end: KvKey }
  | { start: KvKey; end: KvKey };

/**
 * Options of `list`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const newest = kv.list({ prefix: ["events"] }, { limit: 10, reverse: true });
 * for await (const e of newest) console.log(e.key);
 * ```
 */
export interface KvListOptions {
  /** Most entries to return. */
  limit?: number;
  /** Resume after the entry a previous iterator's `cursor` pointed at. */
  cursor?: string;
  /** Newest-key first. */
  reverse?: boolean;
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
 * Options of `openKv`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv(".krepis/kv", { sync: true });
 * ```
 */
export interface OpenKvOptions {
  /**
   * Flush to disk before every write resolves. By default the kernel flushes every
   * 100 ms, so a crash may lose the newest writes (never corrupt older ones).
   */
  sync?: boolean;
}

/** Versionstamps are the commit number as 16 hex digits plus a 4-digit batch index. */
function stampToString(stamp: number): string {
  return stamp.toString(16).padStart(16, "0") + "0000";
}

function stampFromString(stamp: string): number {
  if (!/^[0-9a-f]{20}$/.test(stamp)) {
    throw new TypeError(`invalid versionstamp ${JSON.stringify(stamp)}`);
  }
  return parseInt(stamp.slice(0, 16), 16);
}

function expireArg(options?: { expireIn?: number }): number {
  const ms = options?.expireIn;
  if (ms === undefined) return 0;
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new TypeError(`expireIn must be a positive integer, got ${ms}`);
  }
  return ms;
}

/** Appends the little-endian records of an atomic operation (see kernel `kv::ops`). */
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

  #key(tag: number, key: Uint8Array): void {
    this.#reserve(3 + key.length);
    this.#buf[this.#len] = tag;
    this.#view.setUint16(this.#len + 1, key.length, true);
    this.#buf.set(key, this.#len + 3);
    this.#len += 3 + key.length;
  }

  check(key: Uint8Array, stamp: number | null): void {
    this.#key(1, key);
    this.#reserve(9);
    this.#buf[this.#len++] = stamp === null ? 0 : 1;
    if (stamp !== null) {
      this.#view.setBigUint64(this.#len, BigInt(stamp), true);
      this.#len += 8;
    }
  }

  set(key: Uint8Array, value: Uint8Array, expireIn: number): void {
    this.#key(2, key);
    this.#reserve(12 + value.length);
    this.#view.setBigUint64(this.#len, BigInt(expireIn), true);
    this.#view.setUint32(this.#len + 8, value.length, true);
    this.#buf.set(value, this.#len + 12);
    this.#len += 12 + value.length;
  }

  delete(key: Uint8Array): void {
    this.#key(3, key);
  }

  bytes(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(0, this.#len);
  }
}

/**
 * Collects checks and mutations and commits them all together, or none when a check fails.
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
  #kv: Kv;
  #ops = new OpWriter();

  /** Use {@linkcode Kv.atomic}. */
  constructor(kv: Kv) {
    this.#kv = kv;
  }

  /** Adds checks: each key must hold the given versionstamp (`null`: be absent). */
  check(...checks: AtomicCheck[]): this {
    for (const c of checks) {
      this.#ops.check(
        encodeKey(c.key),
        c.versionstamp === null ? null : stampFromString(c.versionstamp),
      );
    }
    return this;
  }

  /** Adds a write of `value` under `key`, optionally expiring after `expireIn` ms. */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): this {
    this.#ops.set(encodeKey(key), encodeValue(value), expireArg(options));
    return this;
  }

  /** Adds a removal of `key`. */
  delete(key: KvKey): this {
    this.#ops.delete(encodeKey(key));
    return this;
  }

  /** Commits: `{ ok: true, versionstamp }`, or `{ ok: false }` when a check failed. */
  commit(): Promise<KvCommitResult | KvCommitError> {
    try {
      return Promise.resolve(this.#kv.commitOps(this.#ops.bytes()));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/**
 * The iterator `list` returns; `cursor` resumes after the last entry it yielded.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const page = kv.list({ prefix: ["users"] }, { limit: 20 });
 * let shown = 0;
 * for await (const _ of page) shown++;
 * const next = kv.list({ prefix: ["users"] }, { limit: 20, cursor: page.cursor });
 * ```
 */
export interface KvListIterator<T> extends AsyncIterableIterator<KvEntry<T>> {
  /** Pass as `cursor` to a new `list` call to continue after the last yielded entry. */
  readonly cursor: string;
}

// Holds at least one entry of the largest size (64 KiB value, 2 KiB key).
const PAGE_BYTES = 128 * 1024;

function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * An open store. Create one with {@linkcode openKv}; release it with `close()` or `using`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * await kv.set(["users", "ada"], { name: "Ada" });
 * const entry = await kv.get<{ name: string }>(["users", "ada"]);
 * console.log(entry.value?.name, entry.versionstamp);
 * for await (const user of kv.list({ prefix: ["users"] })) console.log(user.key);
 * ```
 */
export class Kv implements Disposable {
  #b: KernelBindings;
  #handle: OwnedHandle;
  #out = new Uint8Array(64 * 1024 + 64);
  #outView = new DataView(this.#out.buffer);

  /** Use {@linkcode openKv}. */
  constructor(bindings: KernelBindings, handle: number) {
    this.#b = bindings;
    this.#handle = new OwnedHandle(
      handle,
      "KV store",
      (h) => bindings.kvClose(h),
    );
  }

  #h(): number {
    return this.#handle.get();
  }

  #read<T>(key: KvKey): KvEntryMaybe<T> {
    const len = this.#b.kvGet(this.#h(), encodeKey(key), this.#out);
    if (len === 0) return { key, value: null, versionstamp: null };
    const stamp = Number(this.#outView.getBigUint64(0, true));
    return {
      key,
      value: decodeValue(this.#out.subarray(8, len)) as T,
      versionstamp: stampToString(stamp),
    };
  }

  /** Reads the entry under `key`. */
  get<T = unknown>(key: KvKey): Promise<KvEntryMaybe<T>> {
    try {
      return Promise.resolve(this.#read<T>(key));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads several keys. */
  getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: KvKey }],
  ): Promise<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    try {
      return Promise.resolve(
        keys.map((key) => this.#read(key)) as {
          [K in keyof T]: KvEntryMaybe<T[K]>;
        },
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Writes `value` under `key`, optionally expiring after `expireIn` milliseconds. */
  set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): Promise<KvCommitResult> {
    try {
      const stamp = this.#b.kvSet(
        this.#h(),
        encodeKey(key),
        encodeValue(value),
        expireArg(options),
      );
      return Promise.resolve({ ok: true, versionstamp: stampToString(stamp) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Removes `key` (no error when it is absent). */
  delete(key: KvKey): Promise<void> {
    try {
      this.#b.kvDelete(this.#h(), encodeKey(key));
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Starts an atomic operation. */
  atomic(): AtomicOperation {
    return new AtomicOperation(this);
  }

  /** Commits encoded atomic records; used by {@linkcode AtomicOperation}. */
  commitOps(ops: Uint8Array<ArrayBuffer>): KvCommitResult | KvCommitError {
    const stamp = this.#b.kvCommit(this.#h(), ops);
    return stamp === 0
      ? { ok: false }
      : { ok: true, versionstamp: stampToString(stamp) };
  }

  /** Lists entries in key order (see {@linkcode KvListSelector}). */
  list<T = unknown>(
    selector: KvListSelector,
    options: KvListOptions = {},
  ): KvListIterator<T> {
    const prefix = "prefix" in selector
      ? encodeKey(selector.prefix)
      : undefined;
    let start = "start" in selector
      ? encodeKey(selector.start)
      : withSuffix(prefix!, 0x00);
    let end = "end" in selector
      ? encodeKey(selector.end)
      : withSuffix(prefix!, 0xff);
    const reverse = options.reverse ?? false;
    if (options.cursor !== undefined) {
      const last = fromBase64Url(options.cursor);
      if (reverse) end = last;
      else start = withSuffix(last, 0x00);
    }
    let remaining = options.limit ?? Infinity;
    if (!(remaining >= 0)) {
      throw new TypeError("limit must be a non-negative number");
    }
    const page = new Uint8Array(PAGE_BYTES);
    const view = new DataView(page.buffer);
    const h = this.#h();
    const b = this.#b;
    let cursor = options.cursor ?? "";
    let lastRaw: Uint8Array | undefined;
    let buffered: KvEntry<T>[] = [];
    let raws: Uint8Array[] = [];
    let at = 0;
    let done = false;
    const fill = () => {
      buffered = [];
      raws = [];
      at = 0;
      if (remaining <= 0) return;
      const limit = Math.min(remaining, 1 << 30);
      const used = b.kvList(h, start, end, reverse ? 1 : 0, limit, page);
      let i = 0;
      let lastKey: Uint8Array<ArrayBuffer> | undefined;
      while (i < used) {
        const klen = view.getUint16(i, true);
        const rawKey = page.subarray(i + 2, i + 2 + klen);
        i += 2 + klen;
        const vlen = view.getUint32(i, true);
        const stamp = Number(view.getBigUint64(i + 4, true));
        const value = decodeValue(page.subarray(i + 12, i + 12 + vlen)) as T;
        i += 12 + vlen;
        buffered.push({
          key: decodeKey(rawKey),
          value,
          versionstamp: stampToString(stamp),
        });
        raws.push(rawKey);
        lastKey = rawKey;
      }
      remaining -= buffered.length;
      if (lastKey) {
        if (reverse) end = lastKey.slice();
        else start = withSuffix(lastKey, 0x00);
      }
    };
    const iterator: KvListIterator<T> = {
      get cursor() {
        // Encoded lazily: most iterations never ask.
        if (lastRaw) cursor = toBase64Url(lastRaw), lastRaw = undefined;
        return cursor;
      },
      next(): Promise<IteratorResult<KvEntry<T>>> {
        try {
          if (!done && at >= buffered.length) {
            fill();
            if (buffered.length === 0) done = true;
          }
          if (done) return Promise.resolve({ done: true, value: undefined });
          lastRaw = raws[at];
          return Promise.resolve({ done: false, value: buffered[at++] });
        } catch (error) {
          return Promise.reject(error);
        }
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return iterator;
  }

  /** Makes every write so far durable and releases the store. */
  close(): void {
    this.#handle.release();
  }

  /** Same as {@linkcode Kv.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens (or creates) the store in directory `path` (default `.krepis/kv` under the
 * current directory).
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv("./data/kv");
 * const { versionstamp } = await kv.set(["hello"], "world");
 * console.log(versionstamp); // 20 hex digits
 * ```
 */
export async function openKv(
  path = ".krepis/kv",
  options: OpenKvOptions = {},
): Promise<Kv> {
  const { bindings } = await loadKernel();
  const handle = bindings.kvOpen(
    new TextEncoder().encode(path),
    options.sync ? 1 : 0,
  );
  return new Kv(bindings, handle);
}
