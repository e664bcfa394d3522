/**
 * TypeScript's end of a KNUL bridge (server or client): views of the kernel's inboxes and
 * outbox, a batched outbox writer, and kernel-memory views that are detached when done.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { BridgeLayoutSchema } from "@krepis/bindings";
import { KIND_RESPOND, writeResponse } from "../http/records.ts";

interface Region {
  buffer: ArrayBuffer;
  view: DataView;
  bytes: Uint8Array;
}

/** A view of `length` bytes of kernel memory at `address`. */
export function kernelView(
  address: number | bigint,
  length: number,
): ArrayBuffer {
  const pointer = Deno.UnsafePointer.create(BigInt(address));
  if (pointer === null) throw new Error("the kernel lent a null address");
  return Deno.UnsafePointerView.getArrayBuffer(pointer, length);
}

/** Detaches a view of kernel memory, so nothing can read it once the kernel frees it. */
export function detach(buffer: ArrayBuffer): void {
  if (!buffer.detached) buffer.transfer(0);
}

/** See the module docs. */
export class BridgeView {
  readonly inboxes: Region[];
  #outbox: Region;
  #outLen = 0;
  #queued = false;
  #submit: (len: number) => void;
  #closed = false;

  /** Views the rings of the encoded `BridgeLayout`; `submit` sends outbox bytes. */
  constructor(layoutBytes: Uint8Array, submit: (len: number) => void) {
    const layout = fromBinary(BridgeLayoutSchema, layoutBytes);
    const region = (address: bigint, size: bigint): Region => {
      const buffer = kernelView(address, Number(size));
      return {
        buffer,
        view: new DataView(buffer),
        bytes: new Uint8Array(buffer),
      };
    };
    this.inboxes = layout.inboxes.map((a) => region(a, layout.inboxSize));
    this.#outbox = region(layout.outbox, layout.outboxSize);
    this.#submit = submit;
  }

  /** Queues a record; records go out together at the end of the current microtask run. */
  write(kind: number, id: number, body: Uint8Array | null): void {
    if (this.#closed) return;
    const { view, bytes } = this.#outbox;
    let len = writeResponse(
      view,
      bytes,
      this.#outLen,
      kind,
      0,
      200,
      id,
      [],
      body,
    );
    if (len < 0) {
      this.flush();
      len = writeResponse(view, bytes, 0, kind, 0, 200, id, [], body);
    }
    if (len < 0) {
      throw new RangeError(
        `a response of ${body?.length} bytes exceeds the outbox`,
      );
    }
    this.#outLen += len;
    if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  /** Writes a complete response (frames) for `id`. */
  respond(id: number, frames: Uint8Array): void {
    this.write(KIND_RESPOND, id, frames);
  }

  #flushTask = (): void => {
    this.#queued = false;
    this.flush();
  };

  /** Sends what the outbox holds. */
  flush(): void {
    if (this.#outLen === 0 || this.#closed) return;
    const len = this.#outLen;
    this.#outLen = 0;
    this.#submit(len);
  }

  /** Flushes, then detaches every view (before the kernel frees the rings). */
  close(): void {
    this.flush();
    this.#closed = true;
    for (const r of [...this.inboxes, this.#outbox]) detach(r.buffer);
  }
}
