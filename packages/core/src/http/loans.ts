/**
 * Large response bodies the kernel writes to the socket straight from JavaScript memory
 * (a loan, returned when the kernel is done with it), and the buffers that memory lives in.
 *
 * Only memory no user code can reach is lent. A `Response`'s bytes are not such memory:
 * `clone()` shares them with the clone, and a stream taken from one `Response` hands them to
 * the next, so user code can hold the very buffer being written and detach (free) it
 * meanwhile — the kernel would then send freed memory. So a body is copied into a buffer
 * of this module's own (a string is encoded into a fresh one), and only that is lent.
 *
 * The buffers are reused once returned: their pages stay mapped, and the handler's own
 * bytes die young. (Lending a `Response`'s bytes kept each one alive for the whole write,
 * so under load they outlived V8's scavenges and were freed only by full GCs; README
 * "Bridge design" has the figures.)
 *
 * @module
 */

/** Buffers are kept in power-of-two sizes from here up to {@linkcode POOLED_MAX}. */
const POOLED_MIN = 64 * 1024;
/** Larger bodies get a buffer of their own, freed when returned. */
const POOLED_MAX = 16 << 20;

/** See the module docs. */
export class Loans {
  #lent = new Map<number, Uint8Array<ArrayBuffer>>();
  #next = 0;
  /** Returned buffers by size, ready for the next body. */
  #idle = new Map<number, ArrayBuffer[]>();
  #idleBytes = 0;
  #maxIdleBytes: number;

  /**
   * Keeps at most `maxIdleBytes` of returned buffers for reuse; the rest are freed.
   *
   * @example
   * ```ts
   * import { Loans } from "./loans.ts";
   * const loans = new Loans(8 << 20);
   * const token = loans.lend(new Uint8Array(100_000), (bytes, token) => {
   *   console.assert(bytes.length === 100_000 && token === 1);
   * });
   * loans.returned(token);
   * console.assert(loans.size === 0);
   * ```
   */
  constructor(maxIdleBytes = 16 << 20) {
    this.#maxIdleBytes = maxIdleBytes;
  }

  /**
   * Copies `body` into a buffer of this module's (a string is encoded), records the loan
   * and calls `handOver` with those bytes and the loan's token (for the kernel); returns the
   * token. The bytes stay untouched until {@linkcode Loans.returned} with that token.
   */
  lend(
    body: string | Uint8Array,
    handOver: (bytes: Uint8Array<ArrayBuffer>, token: number) => void,
  ): number {
    let bytes: Uint8Array<ArrayBuffer>;
    if (typeof body === "string") bytes = new TextEncoder().encode(body);
    else {
      bytes = new Uint8Array(this.#buffer(body.length), 0, body.length);
      bytes.set(body);
    }
    const token = ++this.#next;
    this.#lent.set(token, bytes);
    try {
      handOver(bytes, token);
    } catch (error) {
      this.#lent.delete(token);
      throw error;
    }
    return token;
  }

  /** The kernel is done with `token`'s bytes: the buffer is reused or freed. */
  returned(token: number): void {
    const bytes = this.#lent.get(token);
    if (bytes === undefined) return;
    this.#lent.delete(token);
    const buffer = bytes.buffer;
    const size = buffer.byteLength;
    const idle = this.#idle.get(size);
    if (
      idle !== undefined && this.#idleBytes + size <= this.#maxIdleBytes
    ) {
      idle.push(buffer);
      this.#idleBytes += size;
    } else {
      // Nothing else references this buffer: free it now rather than at a full GC.
      buffer.transfer(0);
    }
  }

  /** Bodies out on loan. */
  get size(): number {
    return this.#lent.size;
  }

  /**
   * Forgets every loan and idle buffer; only once the kernel can no longer read them (its
   * server's runtime has stopped).
   */
  clear(): void {
    this.#lent.clear();
    this.#idle.clear();
    this.#idleBytes = 0;
  }

  #buffer(length: number): ArrayBuffer {
    if (length > POOLED_MAX) return new ArrayBuffer(length);
    let size = POOLED_MIN;
    while (size < length) size *= 2;
    let idle = this.#idle.get(size);
    if (idle === undefined) this.#idle.set(size, idle = []);
    const buffer = idle.pop();
    if (buffer === undefined) return new ArrayBuffer(size);
    this.#idleBytes -= size;
    return buffer;
  }
}
