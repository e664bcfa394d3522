/**
 * `list`: selectors checked as Deno checks them, batches pulled from the kernel as one
 * binary page each (`krepis_kernel::kv::page`) and decoded in one pass, cursors relative
 * to the selector (the kernel refuses one that would leave it).
 *
 * @module
 */

import { decodeKey, encodeKey, type KvKey } from "./kv_key.ts";
import { decodeValue, JSON_KIND } from "./kv_value.ts";
import { decodeUtf8 } from "./utf8.ts";
import { kvError } from "./kv_error.ts";

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
 * Which keys `list` visits, as in Deno KV: a prefix (optionally from `start` or up to
 * `end`, both inside the prefix), or a `[start, end)` range.
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
 * Options of `list`, as Deno KV's.
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
  /** Most entries to return (a positive integer). */
  limit?: number;
  /** Resume after the entry a previous iterator's `cursor` pointed at. */
  cursor?: string;
  /** Last key first. */
  reverse?: boolean;
  /** Entries fetched per batch (default: `limit`, or 100; at most 1000). */
  batchSize?: number;
  /** Accepted for compatibility; reads are always strongly consistent. */
  consistency?: "strong" | "eventual";
}

/**
 * Reads one page into `out`: selector bytes, cursor, reverse, limit → bytes used (a
 * promise for a remote store, whose kernel call runs off the event loop).
 */
export type PullPage = (
  selector: Uint8Array<ArrayBuffer>,
  cursor: Uint8Array<ArrayBuffer>,
  reverse: boolean,
  limit: number,
  out: Uint8Array<ArrayBuffer>,
) => number | Promise<number>;

// Holds at least one entry of the largest size (64 KiB value, 2 KiB key).
const PAGE_BYTES = 128 * 1024;

const utf8 = new TextEncoder();

/** Versionstamps are the commit number as 16 hex digits plus a 4-digit batch index. */
export function stampToString(stamp: number): string {
  return stamp.toString(16).padStart(16, "0") + "0000";
}

function base64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_");
}

function selectorBytes(
  prefix?: Uint8Array,
  start?: Uint8Array,
  end?: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const parts = [prefix, start, end];
  const size = parts.reduce((n, p) => n + (p ? 2 + p.length : 0), 1);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 1;
  parts.forEach((part, i) => {
    if (!part) return;
    out[0] |= 1 << i;
    view.setUint16(at, part.length, true);
    out.set(part, at + 2);
    at += 2 + part.length;
  });
  return out;
}

/**
 * The iterator `list` returns; `cursor` resumes after the last entry it yielded.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * using kv = await openKv();
 * const page = kv.list({ prefix: ["users"] }, { limit: 20 });
 * for await (const _ of page) {}
 * const next = kv.list({ prefix: ["users"] }, { limit: 20, cursor: page.cursor });
 * ```
 */
export class KvListIterator<T> implements AsyncIterableIterator<KvEntry<T>> {
  #pull: PullPage;
  #selector: Uint8Array<ArrayBuffer> | undefined;
  #selectorError: unknown;
  #reverse: boolean;
  #limit: number | undefined;
  #batchSize: number;
  #count = 0;
  #cursor: string | undefined;
  #filling: Promise<void> | undefined;
  #entries: KvEntry<T>[] = [];
  #cursors: Uint8Array[] = [];
  #at = 0;
  #prefixLen = 0;
  #lastBatch = false;
  #done = false;
  #page: Uint8Array<ArrayBuffer> | undefined;

  /** Use `kv.list()`. */
  constructor(
    pull: PullPage,
    selector: KvListSelector,
    options: KvListOptions = {},
  ) {
    const { limit } = options;
    if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0)) {
      throw new Error(`Limit must be a positive integer: received ${limit}`);
    }
    let batchSize = options.batchSize ?? limit ?? 100;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new Error(
        `batchSize must be a positive integer: received ${batchSize}`,
      );
    }
    if (options.batchSize === undefined && batchSize > 500) batchSize = 500;
    const s = selector as { prefix?: KvKey; start?: KvKey; end?: KvKey };
    const { prefix, start, end } = s;
    if (prefix !== undefined) {
      if (start !== undefined && end !== undefined) {
        throw new TypeError(
          "Selector can not specify both 'start' and 'end' key when specifying 'prefix'",
        );
      }
    } else if (start === undefined || end === undefined) {
      throw new TypeError(
        "Selector must specify either 'prefix' or both 'start' and 'end' key",
      );
    }
    try {
      // Deno reports bad keys when the first batch is read.
      this.#selector = selectorBytes(
        prefix && encodeKey(prefix),
        start && encodeKey(start),
        end && encodeKey(end),
      );
    } catch (error) {
      this.#selectorError = error;
    }
    this.#pull = pull;
    this.#reverse = options.reverse ?? false;
    this.#limit = limit;
    this.#batchSize = batchSize;
    this.#cursor = options.cursor || undefined;
  }

  /** Pass as `cursor` to a new `list` call to continue after the last yielded entry. */
  get cursor(): string {
    if (this.#done) return "";
    if (this.#at > 0) {
      const raw = this.#cursors[this.#at - 1];
      return base64Url(raw.subarray(Math.min(this.#prefixLen, raw.length)));
    }
    if (this.#cursor === undefined) {
      throw new Error("Cannot get cursor before first iteration");
    }
    return this.#cursor;
  }

  /** Fetches the next page: at once from a local store, as a promise from a remote one. */
  #fill(): void | Promise<void> {
    if (this.#selectorError !== undefined) throw this.#selectorError;
    const cursor = this.#at > 0 ? this.cursor : this.#cursor;
    const page = this.#page ??= new Uint8Array(PAGE_BYTES);
    const used = this.#pull(
      this.#selector!,
      cursor ? utf8.encode(cursor) : new Uint8Array(),
      this.#reverse,
      this.#batchSize,
      page,
    );
    if (typeof used === "number") return this.#decode(page, used, cursor);
    return used.then((n) => this.#decode(page, n, cursor));
  }

  #decode(
    page: Uint8Array<ArrayBuffer>,
    used: number,
    cursor: string | undefined,
  ): void {
    this.#entries = [];
    this.#cursors = [];
    this.#at = 0;
    const view = new DataView(page.buffer);
    // The page's JSON values come as one array text: one parse for the whole batch.
    const jsonAt = view.getUint32(0, true);
    const json = used > jsonAt
      ? JSON.parse(decodeUtf8(page.subarray(jsonAt, used))) as unknown[]
      : [];
    let j = 0;
    this.#prefixLen = view.getUint16(4, true);
    const full = page[6] === 1;
    let i = 7;
    while (i < jsonAt) {
      const klen = view.getUint16(i, true);
      const rawKey = page.subarray(i + 2, i + 2 + klen);
      i += 2 + klen;
      const kind = page[i];
      const vlen = view.getUint32(i + 1, true);
      const stamp = view.getUint32(i + 5, true) +
        view.getUint32(i + 9, true) * 2 ** 32;
      const value = kind === JSON_KIND
        ? json[j++]
        : decodeValue(kind, page.subarray(i + 13, i + 13 + vlen));
      i += 13 + vlen;
      this.#entries.push({
        key: decodeKey(rawKey),
        value: value as T,
        versionstamp: stampToString(stamp),
      });
      this.#cursors.push(rawKey.slice());
    }
    if (!full && this.#entries.length < this.#batchSize) this.#lastBatch = true;
    if (cursor !== undefined && this.#entries.length === 0) {
      this.#cursor = cursor;
    }
  }

  /** The next entry. */
  next(): Promise<IteratorResult<KvEntry<T>>> {
    // A page of a remote store is on its way: the next entry comes after it.
    if (this.#filling) return this.#filling.then(() => this.next());
    try {
      if (
        this.#done ||
        (this.#limit !== undefined && this.#count >= this.#limit)
      ) {
        return Promise.resolve({ done: true, value: undefined });
      }
      if (this.#at >= this.#entries.length && !this.#lastBatch) {
        const filled = this.#fill();
        if (filled instanceof Promise) {
          this.#filling = filled.finally(() => this.#filling = undefined);
          return this.#filling.then(() => this.next(), (error) => {
            throw kvError(error);
          });
        }
      }
      if (this.#at >= this.#entries.length) {
        this.#done = true;
        return Promise.resolve({ done: true, value: undefined });
      }
      this.#count++;
      return Promise.resolve({ done: false, value: this.#entries[this.#at++] });
    } catch (error) {
      return Promise.reject(kvError(error));
    }
  }

  /** Itself. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}
