/**
 * `@krepis/core/storage`: durable storage in the Krepis kernel — a key-value store with the
 * API of `Deno.openKv`, and a crash-safe file journal (`openJournal`, the `Fs` capability).
 * Adapters and the composition root import it; domain and application code reach storage
 * through ports (`krepis check` reports a direct import).
 *
 * @example
 * ```ts
 * import { openKv } from "@krepis/core/storage";
 * const dir = await Deno.makeTempDir();
 * using kv = await openKv(`${dir}/kv`);
 * await kv.set(["greeting"], "hello");
 * console.assert((await kv.get(["greeting"])).value === "hello");
 * ```
 *
 * @module
 */

export {
  type AtomicCheck,
  AtomicOperation,
  type Kv,
  type KvCommitError,
  type KvCommitResult,
  type KvEnqueueOptions,
  type KvEntry,
  type KvEntryMaybe,
  type KvListIterator,
  type KvListOptions,
  type KvListSelector,
  type KvMutation,
  KvU64,
  openKv,
  type OpenKvOptions,
} from "./src/storage/kv.ts";
export type { KvKey, KvKeyPart } from "./src/storage/kv_key.ts";
export {
  Fs,
  Journal,
  JournalTransaction,
  openJournal,
  type OpenJournalOptions,
  type StepOptions,
  type TxInfo,
} from "./src/storage/journal.ts";
export { KrepisError, type KrepisErrorCode } from "./src/errors.ts";
