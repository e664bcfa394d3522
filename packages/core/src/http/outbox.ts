/**
 * The outbox writer both bridges (HTTP and KNUL) use: response records are appended to the
 * kernel's outbox and handed over together — when the outbox is full, when the owner
 * flushes or takes them (the HTTP server's turns submit them on the way), and otherwise at
 * the end of the current microtask run when the owner wants that, so responses completed
 * in one turn cross the boundary in one call.
 *
 * @module
 */

import { type Region, type ResponseHead, writeResponse } from "./records.ts";

/** See the module docs. */
export class Outbox {
  #region: Region;
  #submit: (length: number) => void;
  #eager: () => boolean;
  #length = 0;
  #queued = false;
  #closed = false;

  /**
   * Writes into `region`; `submit(length)` hands the first `length` bytes to the kernel
   * (the region is reused from the start afterwards). At the end of a microtask run with
   * records written, they are submitted if `eager()` says so (by default always); otherwise
   * they wait for `flush()` or `take()`.
   *
   * @example
   * ```ts
   * import { Outbox } from "./outbox.ts";
   * import { KIND_RESPOND } from "./records.ts";
   * const buffer = new ArrayBuffer(1024);
   * const region = { buffer, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
   * const outbox = new Outbox(region, (length) => console.log(`${length} bytes out`));
   * outbox.write({ kind: KIND_RESPOND, flags: 0, status: 200, id: 1, headers: [] }, "hi");
   * outbox.flush();
   * ```
   */
  constructor(
    region: Region,
    submit: (length: number) => void,
    eager: () => boolean = () => true,
  ) {
    this.#region = region;
    this.#submit = submit;
    this.#eager = eager;
  }

  /**
   * Queues one record. Returns false when it does not fit even an empty outbox (nothing
   * was written); after `close()` it writes nothing and returns true.
   */
  write(head: ResponseHead, body: string | Uint8Array | null): boolean {
    if (this.#closed) return true;
    let length = writeResponse(this.#region, this.#length, head, body);
    if (length < 0 && this.#length > 0) {
      this.flush();
      length = writeResponse(this.#region, 0, head, body);
    }
    if (length < 0) return false;
    this.#length += length;
    if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.#flushTask);
    }
    return true;
  }

  #flushTask = (): void => {
    this.#queued = false;
    if (this.#eager()) this.flush();
  };

  /** Hands out the length written so far, for the caller to submit itself; empties. */
  take(): number {
    if (this.#closed) return 0;
    const length = this.#length;
    this.#length = 0;
    return length;
  }

  /** Bytes written and not yet submitted. */
  get length(): number {
    return this.#length;
  }

  /** Hands what the outbox holds to the kernel now. */
  flush(): void {
    if (this.#length === 0 || this.#closed) return;
    const length = this.#length;
    this.#length = 0;
    this.#submit(length);
  }

  /** Flushes, then writes nothing more (the owner detaches the region next). */
  close(): void {
    this.flush();
    this.#closed = true;
  }
}
