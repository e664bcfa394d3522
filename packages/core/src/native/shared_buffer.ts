/**
 * Kernel memory viewed in place from TypeScript (the data plane).
 *
 * @module
 */

import { KrepisError } from "../errors.ts";
import { type LoadedKernel, loadKernel } from "./loader.ts";

/**
 * A block of kernel-owned memory exposed as an `ArrayBuffer` without copying. The view is
 * created once; {@linkcode SharedBuffer.release} detaches it before the kernel frees the
 * memory, so a late read sees an empty buffer instead of freed memory.
 *
 * @example
 * ```ts ignore
 * import { SharedBuffer } from "./shared_buffer.ts";
 * using shared = await SharedBuffer.allocate(1024);
 * shared.bytes[0] = 42;
 * ```
 */
export class SharedBuffer implements Disposable {
  #kernel: LoadedKernel;
  #handle: number;
  #buffer: ArrayBuffer;
  #released = false;

  private constructor(
    kernel: LoadedKernel,
    handle: number,
    buffer: ArrayBuffer,
  ) {
    this.#kernel = kernel;
    this.#handle = handle;
    this.#buffer = buffer;
  }

  /**
   * Allocates `length` zeroed bytes of kernel memory.
   *
   * @example
   * ```ts ignore
   * import { SharedBuffer } from "./shared_buffer.ts";
   * const shared = await SharedBuffer.allocate(4096);
   * shared.release();
   * ```
   */
  static async allocate(length: number): Promise<SharedBuffer> {
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new KrepisError(
        "INVALID_ARGUMENT",
        `SharedBuffer length must be a positive integer, got ${length}`,
      );
    }
    const kernel = await loadKernel();
    const handle = kernel.bindings.bufferAlloc(length);
    const address = kernel.bindings.bufferAddr(handle);
    const pointer = Deno.UnsafePointer.create(BigInt(address));
    if (pointer === null) {
      kernel.bindings.bufferFree(handle);
      throw new KrepisError("INTERNAL", "the kernel returned a null buffer");
    }
    const buffer = Deno.UnsafePointerView.getArrayBuffer(pointer, length);
    return new SharedBuffer(kernel, handle, buffer);
  }

  /**
   * The memory as an `ArrayBuffer`; length 0 once released. Do not `transfer()` it: a
   * transferred view can no longer be detached, so the kernel would have to keep the memory.
   */
  get buffer(): ArrayBuffer {
    return this.#buffer;
  }

  /** A byte view of the memory (a new view object, same memory). */
  get bytes(): Uint8Array {
    return new Uint8Array(this.#buffer);
  }

  /** The kernel handle addressing this buffer. */
  get handle(): number {
    return this.#handle;
  }

  /** True once {@linkcode SharedBuffer.release} has run. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Detaches the view, then lets the kernel free the memory. Idempotent.
   *
   * @throws {KrepisError} `CONFLICT` when the view was transferred away: some other
   * `ArrayBuffer` may still point at the memory, so it is kept (not freed) to stay safe.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#buffer.detached) {
      throw new KrepisError(
        "CONFLICT",
        "SharedBuffer view was transferred away, so it cannot be detached; its kernel memory is kept alive instead of freed",
      );
    }
    this.#buffer.transfer(0);
    this.#buffer = new ArrayBuffer(0);
    this.#kernel.bindings.bufferFree(this.#handle);
  }

  /** Same as {@linkcode SharedBuffer.release}, for `using`. */
  [Symbol.dispose](): void {
    this.release();
  }
}
