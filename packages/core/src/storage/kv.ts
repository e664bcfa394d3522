/**
 * An embedded key-value store with Deno KV's contract (`Deno.openKv`): the same API,
 * ordering, versionstamps, limits and error types, queues and `watch` — backed by sled in
 * the Krepis kernel. Data lives in `.krepis/kv` by default; no server to install.
 *
 * Durable by default: a commit resolves after its data is on disk (`fdatasync`);
 * concurrent commits share one sync. `openKv(path, { durability: "relaxed" })` resolves
 * commits without waiting; a killed process may then lose its newest writes (sled writes
 * them out every 100 ms; measured under heavy load: up to 353 ms of them).
 * One process at a time may open a store (workers of that process share it).
 *
 * @module
 */

import type { KernelBindings } from "@krepis/bindings";
import { KrepisError } from "../errors.ts";
import { loadKernel } from "../native/loader.ts";
import { encodeKey, encodeKeysFramed, type KvKey } from "./kv_key.ts";
import { decodeValue, JSON_KIND } from "./kv_value.ts";
import { decodeUtf8 } from "./utf8.ts";
import { badResource, kvError } from "./kv_error.ts";
import { Gate } from "./kv_gate.ts";
import {
  AtomicOperation,
  COMMIT_VERSIONSTAMP,
  type KvCommitResult,
  type KvEnqueueOptions,
} from "./kv_atomic.ts";
import {
  type KvEntry,
  KvListIterator,
  type KvListOptions,
  type KvListSelector,
  stampToString,
} from "./kv_list.ts";

export { KvU64 } from "./kv_u64.ts";
export {
  type AtomicCheck,
  AtomicOperation,
  type KvCommitError,
  type KvCommitResult,
  type KvEnqueueOptions,
  type KvMutation,
} from "./kv_atomic.ts";
export {
  type KvEntry,
  KvListIterator,
  type KvListOptions,
  type KvListSelector,
} from "./kv_list.ts";

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
 * Options of `openKv`.
 *
 * @example
 * ```ts ignore
 * import { openKv } from "@krepis/core/storage";
 * // Faster commits; a crash may lose the newest (≈0.1–0.3 s of) writes.
 * using kv = await openKv(".krepis/cache", { durability: "relaxed" });
 * ```
 */
export interface OpenKvOptions {
  /**
   * `"sync"` (default): a commit resolves after its data is on disk (`fdatasync`),
   * concurrent commits sharing one sync. `"relaxed"`: a commit resolves once applied;
   * the kernel writes it out every 100 ms, so a crash may lose the newest writes — never
   * older ones, never a part of a commit. Measured by `deno task bench:storage` on a
   * loaded 2-core machine: the oldest lost commit was up to 353 ms old (per-run
   * medians 41–129 ms).
   */
  durability?: "sync" | "relaxed";
}

const TOKEN = Symbol("Kv");
// A point read answers at most 10 keys of up to 64 KiB each (see `kv::page`).
const READ_SMALL = 70 * 1024, READ_LARGE = 10 * (65536 + 14);
/** Read buffers a remote store keeps for reuse. */
const MAX_SPARE = 8;
const QUEUE_BUFFER = 65536 + 9;
// Waits in the kernel end after this long so a closed store is noticed without a wake.
const WAIT_MS = 5000;
const MAX_HANDLING = 100;

/**
 * An open store, like `Deno.Kv`. Create one with {@linkcode openKv}; release it with
 * `close()` or `using`.
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
  #h: number | undefined;
  #temp: string | undefined;
  #out = new Uint8Array(READ_SMALL);
  #outView = new DataView(this.#out.buffer);
  /** A store across the network: reads go off the event-loop thread (see `#readRemote`). */
  #remote = false;
  /** Read buffers free for the next remote read (each read in flight holds its own). */
  #spare: Uint8Array<ArrayBuffer>[] = [];
  /** Lets a remote store's reads, lists and commits run at most one per connection. */
  #gate = new Gate(1);

  /** Not for users: use {@linkcode openKv}. */
  constructor(token: symbol, bindings: KernelBindings, handle: number) {
    if (token !== TOKEN) {
      throw new TypeError("Kv can not be constructed: use openKv instead");
    }
    this.#b = bindings;
    this.#h = handle;
  }

  /** Opens a store; used by {@linkcode openKv}. */
  static [TOKEN](bindings: KernelBindings, handle: number, temp?: string): Kv {
    const kv = new Kv(TOKEN, bindings, handle);
    kv.#temp = temp;
    const connections = bindings.kvRemote(handle);
    kv.#remote = connections > 0;
    if (kv.#remote) kv.#gate = new Gate(connections);
    return kv;
  }

  #handle(): number {
    if (this.#h === undefined) throw badResource();
    return this.#h;
  }

  /** Reads up to 10 keys: at once from a local store, off the event loop from a remote one. */
  #read<T>(
    keys: readonly KvKey[],
  ): KvEntryMaybe<T>[] | Promise<KvEntryMaybe<T>[]> {
    return this.#remote ? this.#readRemote<T>(keys) : this.#readLocal<T>(keys);
  }

  /** `#read`, then `pick`, as a promise whose errors are the KV's own. */
  #readPromise<T, R>(
    keys: readonly KvKey[],
    pick: (entries: KvEntryMaybe<T>[]) => R,
  ): Promise<R> {
    try {
      const read = this.#read<T>(keys);
      return read instanceof Promise
        ? read.then(pick, (error) => {
          throw kvError(error);
        })
        : Promise.resolve(pick(read));
    } catch (error) {
      return Promise.reject(kvError(error));
    }
  }

  /** Reads up to 10 keys in one synchronous kernel call (a local store answers in µs). */
  #readLocal<T>(keys: readonly KvKey[]): KvEntryMaybe<T>[] {
    const h = this.#handle();
    const request = encodeKeysFramed(keys);
    let used: number;
    try {
      used = this.#b.kvRead(h, request, this.#out);
    } catch (error) {
      if (!(error instanceof KrepisError) || error.code !== "LIMIT_EXCEEDED") {
        throw error;
      }
      this.#out = new Uint8Array(READ_LARGE);
      this.#outView = new DataView(this.#out.buffer);
      used = this.#b.kvRead(h, request, this.#out);
    }
    return decodeRead<T>(keys, this.#out, this.#outView, used);
  }

  /**
   * Reads up to 10 keys on a Deno blocking thread: a network round trip must not hold up
   * the event loop. Each read in flight owns its buffer until the kernel is done with it.
   */
  async #readRemote<T>(keys: readonly KvKey[]): Promise<KvEntryMaybe<T>[]> {
    const h = this.#handle();
    // A copy: the framing buffer is shared, and the next read (issued while this one
    // waits on the database) would overwrite it before the kernel has read it.
    const request = encodeKeysFramed(keys).slice();
    let out = this.#spare.pop() ?? new Uint8Array(READ_SMALL);
    let used: number;
    try {
      used = await this.#gate.run(() => this.#b.kvReadAsync(h, request, out));
    } catch (error) {
      if (!(error instanceof KrepisError) || error.code !== "LIMIT_EXCEEDED") {
        throw error;
      }
      out = new Uint8Array(READ_LARGE);
      used = await this.#gate.run(() => this.#b.kvReadAsync(h, request, out));
    }
    const entries = decodeRead<T>(keys, out, new DataView(out.buffer), used);
    if (out.length === READ_SMALL && this.#spare.length < MAX_SPARE) {
      this.#spare.push(out);
    }
    return entries;
  }

  /** Reads the entry under `key` (always strongly consistent; `options` as Deno's). */
  get<T = unknown>(
    key: KvKey,
    _options?: { consistency?: "strong" | "eventual" },
  ): Promise<KvEntryMaybe<T>> {
    return this.#readPromise<T, KvEntryMaybe<T>>(
      [key],
      (entries) => entries[0],
    );
  }

  /** Reads up to 10 keys at once. */
  getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: KvKey }],
    _options?: { consistency?: "strong" | "eventual" },
  ): Promise<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    return this.#readPromise(
      keys as readonly KvKey[],
      (entries) => entries as unknown as { [K in keyof T]: KvEntryMaybe<T[K]> },
    );
  }

  #commit = async (ops: Uint8Array<ArrayBuffer>): Promise<string | null> => {
    const h = this.#handle();
    let n: number;
    try {
      // A local store's commits are not held back: concurrent ones share a disk sync.
      n = await (this.#remote
        ? this.#gate.run(() =>
          this.#b.kvCommit(h, ops)
        )
        : this.#b.kvCommit(h, ops));
    } catch (error) {
      throw kvError(error);
    }
    return n === 0 ? null : stampToString(n);
  };

  /** Writes `value` under `key`, optionally expiring after `expireIn` milliseconds. */
  async set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): Promise<KvCommitResult> {
    const result = await this.atomic().set(key, value, options).commit();
    if (!result.ok) throw new TypeError("Failed to set value");
    return result;
  }

  /** Removes `key` (no error when it is absent). */
  async delete(key: KvKey): Promise<void> {
    await this.atomic().delete(key).commit();
  }

  /** Starts an atomic operation. */
  atomic(): AtomicOperation {
    return new AtomicOperation(this.#commit);
  }

  /** A key part that a committed `set` replaces by the commit's versionstamp. */
  commitVersionstamp(): symbol {
    return COMMIT_VERSIONSTAMP;
  }

  /** Lists entries in key order (see {@linkcode KvListSelector}). */
  list<T = unknown>(
    selector: KvListSelector,
    options: KvListOptions = {},
  ): KvListIterator<T> {
    return new KvListIterator<T>(
      (sel, cursor, reverse, limit, out) => {
        const args = [
          this.#handle(),
          sel,
          cursor,
          reverse ? 1 : 0,
          limit,
          out,
        ] as const;
        return this.#remote
          ? this.#gate.run(() => this.#b.kvListAsync(...args))
          : this.#b.kvList(...args);
      },
      selector,
      options,
    );
  }

  /** Puts `message` on the queue for `listenQueue` handlers (at-least-once delivery). */
  async enqueue(
    message: unknown,
    options?: KvEnqueueOptions,
  ): Promise<KvCommitResult> {
    const result = await this.atomic().enqueue(message, options).commit();
    if (!result.ok) throw new TypeError("Failed to enqueue value");
    return result;
  }

  /**
   * Calls `handler` with each queue message. A message is removed once its handler
   * returns; when it throws, the message is retried per its `backoffSchedule` and then
   * written to its `keysIfUndelivered`. Resolves when the store is closed.
   */
  async listenQueue(
    handler: (message: unknown) => Promise<void> | void,
  ): Promise<void> {
    if (this.#h === undefined) throw new Error("Queue already closed");
    const b = this.#b, h = this.#h;
    const finishing = new Set<Promise<unknown>>();
    const buf = new Uint8Array(QUEUE_BUFFER);
    const view = new DataView(buf.buffer);
    while (this.#h !== undefined) {
      // As Deno: at most 100 messages in handlers at once.
      if (finishing.size >= MAX_HANDLING) await Promise.race(finishing);
      const len = await b.kvDequeue(h, WAIT_MS, buf).catch((e) => {
        if (this.#h === undefined) return 0;
        throw kvError(e);
      });
      if (len === 0) continue;
      const id = Number(view.getBigUint64(0, true));
      const message = decodeValue(buf[8], buf.slice(9, len));
      const done = (async () => {
        let success = false;
        try {
          await handler(message);
          success = true;
        } catch (error) {
          console.error("Exception in queue handler", error);
        }
        // After close the store ends the delivery itself (it is retried on reopen).
        await b.kvFinish(h, id, success ? 1 : 0).catch(() => {});
      })();
      finishing.add(done);
      done.finally(() => finishing.delete(done));
    }
    await Promise.all(finishing);
  }

  /**
   * A stream that yields the entries of `keys` (at most 10) now and whenever one of them
   * changes, as `Deno.Kv.watch`.
   */
  watch<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: KvKey }],
    options: { raw?: boolean } = {},
  ): ReadableStream<{ [K in keyof T]: KvEntryMaybe<T[K]> }> {
    const h = this.#handle();
    if (keys.length > 10) throw new TypeError("Too many keys (max 10)");
    for (const key of keys) encodeKey(key as KvKey);
    const b = this.#b;
    let last: (string | null)[] | undefined;
    let cancelled = false;
    let waiting: Promise<unknown> = Promise.resolve();
    type Out = { [K in keyof T]: KvEntryMaybe<T[K]> };
    return new ReadableStream<Out>({
      pull: async (controller) => {
        while (!cancelled) {
          if (this.#h === undefined) return controller.close();
          const epoch = b.kvEpoch(h);
          const entries = await this.#read(keys as readonly KvKey[]);
          const stamps = entries.map((e) => e.versionstamp);
          if (
            options.raw || !last || stamps.some((s, i) => s !== last![i])
          ) {
            last = stamps;
            return controller.enqueue(entries as unknown as Out);
          }
          waiting = b.kvWait(h, epoch, WAIT_MS).catch(() => 0);
          await waiting;
        }
      },
      cancel: async () => {
        cancelled = true;
        if (this.#h !== undefined) b.kvWake(h);
        await waiting;
      },
    });
  }

  /** Releases the store; later calls throw `Deno.errors.BadResource`. */
  close(): void {
    const h = this.#handle();
    this.#h = undefined;
    this.#b.kvClose(h);
    if (this.#temp) {
      try {
        Deno.removeSync(this.#temp, { recursive: true });
      } catch { /* the kernel may still be closing files in it; a temp dir */ }
    }
  }

  /** Same as {@linkcode Kv.close}, without an error when closed already. */
  [Symbol.dispose](): void {
    if (this.#h !== undefined) this.close();
  }
}

/**
 * Opens (or creates) the store in directory `path` (default `.krepis/kv` under the
 * current directory; `":memory:"` for a throw-away store), like `Deno.openKv`.
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
  if (path === "") throw new TypeError("Filename cannot be empty");
  let temp: string | undefined;
  if (path === ":memory:") {
    path = temp = await Deno.makeTempDir({ prefix: "krepis-kv-memory-" });
  } else if (path.startsWith(":")) {
    throw new TypeError(
      "Filename cannot start with ':' unless prefixed with './'",
    );
  }
  const durability = options.durability ?? (temp ? "relaxed" : "sync");
  if (durability !== "sync" && durability !== "relaxed") {
    throw new TypeError(`durability must be "sync" or "relaxed"`);
  }
  const { bindings } = await loadKernel();
  // Off the event loop: a PostgreSQL login takes network round trips.
  const handle = await bindings.kvOpen(
    new TextEncoder().encode(path),
    durability === "sync" ? 1 : 0,
  );
  return Kv[TOKEN](bindings, handle, temp);
}

/** Decodes a read answer (see `krepis_kernel::kv::page`) for `keys`. */
function decodeRead<T>(
  keys: readonly KvKey[],
  out: Uint8Array,
  view: DataView,
  used: number,
): KvEntryMaybe<T>[] {
  // JSON values of the whole batch come as one array text, parsed at once.
  const jsonAt = view.getUint32(0, true);
  const json = used > jsonAt
    ? JSON.parse(decodeUtf8(out.subarray(jsonAt, used))) as unknown[]
    : [];
  let j = 0;
  const entries: KvEntryMaybe<T>[] = [];
  let i = 4;
  for (const key of keys) {
    if (out[i] === 0) {
      entries.push({ key, value: null, versionstamp: null });
      i++;
      continue;
    }
    const kind = out[i + 1];
    const len = view.getUint32(i + 2, true);
    const stamp = view.getUint32(i + 6, true) +
      view.getUint32(i + 10, true) * 2 ** 32;
    entries.push({
      key,
      value: (kind === JSON_KIND
        ? json[j++]
        : decodeValue(kind, out.subarray(i + 14, i + 14 + len))) as T,
      versionstamp: stampToString(stamp),
    });
    i += 14 + len;
  }
  return entries;
}
