/**
 * The transactional file system: every change Krepis makes to a project — generators, or
 * app code through the `Fs` capability — grouped in transactions that can be undone at
 * once and survive a crash without half-written files.
 *
 * Backed by the kernel's journal (sled, in `<root>/.krepis/journal`): before a change is
 * applied, the prior state of each touched path is recorded durably; changes are applied
 * atomically (temporary file + rename); a transaction a killed process left unfinished is
 * rolled back the next time the journal is opened.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { JournalHistorySchema, type KernelBindings } from "@krepis/bindings";
import { type Capability, defineCapability } from "../context/capability.ts";
import { readVariable, readVariableAsync } from "../native/library.ts";
import { numeric } from "../native/numeric.ts";
import { KrepisError } from "../errors.ts";
import { loadKernel } from "../native/loader.ts";
import { OwnedHandle } from "./handle.ts";

/**
 * One transaction in the history.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".");
 * for (const tx of await journal.history()) console.log(tx.id, tx.label, tx.files.length);
 * ```
 */
export interface TxInfo {
  /** Monotonic id. */
  id: number;
  /** The label given to {@linkcode Journal.transaction}. */
  label: string;
  /** When it was committed. */
  time: Date;
  /** True once undone (it can be redone). */
  undone: boolean;
  /** Paths it touched, relative to the root, in the order first touched. */
  files: string[];
}

/**
 * Options of {@linkcode openJournal}.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".", { sync: true, lockTimeoutMs: 2000 });
 * ```
 */
export interface OpenJournalOptions {
  /**
   * Also fsync new file content before renaming it into place (durability across power
   * loss). The journal's records are always flushed; files are safe against a killed
   * process either way.
   */
  sync?: boolean;
  /** How long to wait for another process's transaction; default 10 000 ms. */
  lockTimeoutMs?: number;
}

/**
 * Options of {@linkcode Journal.undo} and {@linkcode Journal.redo}.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".");
 * await journal.undo(1, { force: true });
 * ```
 */
export interface StepOptions {
  /** Overwrite files changed outside Krepis since the transaction. */
  force?: boolean;
}

const utf8 = new TextEncoder();

function checkSteps(steps: number): void {
  if (!Number.isSafeInteger(steps) || steps < 1) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      `steps must be a whole number of at least 1, got ${steps}`,
    );
  }
}
const fromUtf8 = new TextDecoder();

/**
 * The operations of one open transaction. Each operation is validated and staged at once
 * (a bad path or a missing file rejects its promise); operations issued in the same turn
 * of the event loop are recorded with one durable flush and then applied, so the promise
 * resolves once the change is on disk.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".");
 * await journal.transaction("scaffold", async (tx) => {
 *   await tx.mkdir("src/routes", { recursive: true });
 *   await Promise.all([
 *     tx.writeFile("src/routes/a.ts", "export {};\n"),
 *     tx.writeFile("src/routes/b.ts", "export {};\n"),
 *   ]);
 * });
 * ```
 */
export class JournalTransaction {
  #b: KernelBindings;
  #journal: Journal;
  #handle: OwnedHandle;
  #flush: Promise<void> | undefined;

  /** Use {@linkcode Journal.transaction}. */
  constructor(bindings: KernelBindings, journal: Journal, handle: number) {
    this.#b = bindings;
    this.#journal = journal;
    this.#handle = new OwnedHandle(
      handle,
      "transaction",
      (h) => bindings.txRollback(h),
    );
  }

  #h(): number {
    return this.#handle.get();
  }

  /** Stages `op` now; resolves after the flush that applies it. */
  #op(op: (handle: number) => unknown): Promise<void> {
    try {
      op(this.#h());
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#flush ??= Promise.resolve().then(() => {
      this.#flush = undefined;
      if (this.#handle.open) this.#b.txFlush(this.#handle.get());
    });
  }

  /** Writes `data` (text is UTF-8) to `path`, creating missing parent directories. */
  writeFile(
    path: string,
    data: Uint8Array | string,
    options: { mode?: number } = {},
  ): Promise<void> {
    const bytes = typeof data === "string"
      ? utf8.encode(data)
      : data.buffer instanceof ArrayBuffer
      ? data as Uint8Array<ArrayBuffer>
      : new Uint8Array(data);
    return this.#op((h) =>
      this.#b.txWrite(h, utf8.encode(path), bytes, options.mode ?? -1)
    );
  }

  /** Creates directory `path`; `recursive` creates parents and accepts an existing one. */
  mkdir(
    path: string,
    options: { recursive?: boolean; mode?: number } = {},
  ): Promise<void> {
    return this.#op((h) =>
      this.#b.txMkdir(
        h,
        utf8.encode(path),
        options.recursive ? 1 : 0,
        options.mode ?? -1,
      )
    );
  }

  /** Removes a file or an empty directory; `recursive` removes a directory's content too. */
  remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.#op((h) =>
      this.#b.txRemove(h, utf8.encode(path), options.recursive ? 1 : 0)
    );
  }

  /** Renames the file `from` to `to` (replacing a file there). */
  rename(from: string, to: string): Promise<void> {
    return this.#op((h) =>
      this.#b.txRename(h, utf8.encode(from), utf8.encode(to))
    );
  }

  /** Sets the permission bits of `path`. */
  chmod(path: string, mode: number): Promise<void> {
    return this.#op((h) => this.#b.txChmod(h, utf8.encode(path), mode));
  }

  /** Reads `path` as this transaction sees it (staged changes are applied first). */
  async readFile(path: string): Promise<Uint8Array> {
    await this.#flush;
    return this.#journal.readFile(path);
  }

  /** Reads `path` as UTF-8 text, as this transaction sees it. */
  async readTextFile(path: string): Promise<string> {
    return fromUtf8.decode(await this.readFile(path));
  }

  /** Applies what is staged, commits, and returns the transaction id. */
  async commit(): Promise<number> {
    await this.#flush;
    return this.#b.txCommit(this.#handle.take());
  }

  /** Undoes everything applied so far and forgets the transaction. */
  rollback(): void {
    this.#handle.release();
  }
}

/**
 * The journal of one project root. Open it with {@linkcode openJournal}.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".");
 * await journal.transaction("add readme", (tx) => tx.writeFile("README.md", "# Hi\n"));
 * console.log((await journal.history())[0].files); // ["README.md"]
 * await journal.undo(); // README.md is gone again
 * ```
 */
export class Journal implements Disposable {
  #b: KernelBindings;
  #handle: OwnedHandle;

  /** Use {@linkcode openJournal}. */
  constructor(bindings: KernelBindings, handle: number) {
    this.#b = bindings;
    this.#handle = new OwnedHandle(
      handle,
      "journal",
      (h) => bindings.journalClose(h),
    );
  }

  #h(): number {
    return this.#handle.get();
  }

  /**
   * Runs `fn` in a transaction labelled `label` and commits when it returns; when it
   * throws, everything it did is rolled back and the error is rethrown. Other processes'
   * transactions on the same root wait for this one.
   */
  async transaction<T>(
    label: string,
    fn: (tx: JournalTransaction) => T | Promise<T>,
  ): Promise<T> {
    const handle = await this.#b.journalBegin(this.#h(), utf8.encode(label));
    const tx = new JournalTransaction(this.#b, this, handle);
    let result: T;
    try {
      result = await fn(tx);
      await tx.commit();
    } catch (error) {
      tx.rollback();
      throw error;
    }
    return result;
  }

  /** Undoes the newest `steps` transactions; returns them. Refuses (naming the files)
   * when a file changed outside Krepis since, unless `force`. */
  async undo(steps = 1, options: StepOptions = {}): Promise<TxInfo[]> {
    checkSteps(steps);
    const count = await this.#b.journalUndo(
      this.#h(),
      steps,
      options.force ? 1 : 0,
    );
    const undone = (await this.history()).filter((t) => t.undone);
    return undone.slice(undone.length - count);
  }

  /** Redoes the oldest `steps` undone transactions; returns them. */
  async redo(steps = 1, options: StepOptions = {}): Promise<TxInfo[]> {
    checkSteps(steps);
    const count = await this.#b.journalRedo(
      this.#h(),
      steps,
      options.force ? 1 : 0,
    );
    return (await this.history()).filter((t) => !t.undone).slice(0, count);
  }

  /** Committed and undone transactions, newest first. */
  async history(): Promise<TxInfo[]> {
    const handle = this.#h();
    const history = fromBinary(
      JournalHistorySchema,
      await readVariableAsync(
        (buf) => this.#b.journalHistory(handle, buf),
        64 * 1024,
      ),
    );
    return history.transactions.map((tx) => {
      const { timeMs, ...info } = numeric(tx);
      return { ...info, time: new Date(timeMs) };
    });
  }

  /** Reads `path` (relative to the root); escapes from the root are refused. */
  readFile(path: string): Promise<Uint8Array> {
    try {
      return Deno.readFile(this.resolve(path));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Reads `path` as UTF-8 text. */
  async readTextFile(path: string): Promise<string> {
    return fromUtf8.decode(await this.readFile(path));
  }

  /** The absolute location of `path` inside the root; escapes are refused. */
  resolve(path: string): string {
    const encoded = utf8.encode(path);
    return fromUtf8.decode(
      readVariable(
        (out) => this.#b.journalResolve(this.#h(), encoded, out),
        512,
      ),
    );
  }

  /** Releases the journal (the data stays in `.krepis/`). */
  close(): void {
    this.#handle.release();
  }

  /** Same as {@linkcode Journal.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens the journal of the project at `root` (default: the current directory), creating
 * `.krepis/` when needed and rolling back a transaction a killed process left unfinished.
 *
 * @example
 * ```ts ignore
 * import { openJournal } from "@krepis/core/storage";
 * using journal = await openJournal(".");
 * const undone = await journal.undo(1);
 * console.log(`undid ${undone[0]?.label}`);
 * ```
 */
export async function openJournal(
  root = ".",
  options: OpenJournalOptions = {},
): Promise<Journal> {
  const { bindings } = await loadKernel();
  const handle = await bindings.journalOpen(
    utf8.encode(root),
    options.sync ? 1 : 0,
    options.lockTimeoutMs ?? 10_000,
  );
  return new Journal(bindings, handle);
}

/**
 * The journal-backed file system as a context capability (`ctx.fs` of the spec): attach a
 * {@linkcode Journal} once — `createApp({ context: (ctx) => ctx.with(Fs, journal) })` — and
 * every command, query and adapter reaches it as `ctx.use(Fs)`.
 *
 * @example
 * ```ts ignore
 * import { createContext } from "@krepis/core";
 * import { Fs, openJournal } from "@krepis/core/storage";
 * const ctx = createContext().with(Fs, await openJournal("."));
 * await ctx.use(Fs).transaction("note", (tx) => tx.writeFile("NOTE.md", "hi\n"));
 * ```
 */
export const Fs: Capability<Journal> = defineCapability<Journal>("Fs");
