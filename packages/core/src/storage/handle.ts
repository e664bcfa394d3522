/**
 * The handle of a kernel object owned by one TypeScript object, released exactly once.
 *
 * @module
 */

/** A kernel handle that is used until taken or released, then refused with a clear error. */
export class OwnedHandle {
  #handle: number | undefined;
  #what: string;
  #release: (handle: number) => unknown;

  /**
   * Owns `handle` of a kernel object described as `what` (for errors); `release` frees it.
   */
  constructor(
    handle: number,
    what: string,
    release: (handle: number) => unknown,
  ) {
    this.#handle = handle;
    this.#what = what;
    this.#release = release;
  }

  /** The handle; throws once it was taken or released. */
  get(): number {
    if (this.#handle === undefined) {
      throw new TypeError(`the ${this.#what} is closed`);
    }
    return this.#handle;
  }

  /** Whether the handle is still owned. */
  get open(): boolean {
    return this.#handle !== undefined;
  }

  /** Hands the handle to a call that consumes it; later uses throw. */
  take(): number {
    const handle = this.get();
    this.#handle = undefined;
    return handle;
  }

  /** Releases the handle unless that happened already. */
  release(): void {
    if (this.#handle !== undefined) this.#release(this.take());
  }
}
