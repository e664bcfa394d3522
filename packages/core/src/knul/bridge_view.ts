/**
 * TypeScript's end of a KNUL bridge (server or client): views of the kernel's inboxes and
 * outbox, a batched outbox writer, and kernel-memory views that are detached when done.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import { BridgeLayoutSchema } from "@krepis/bindings";
import { Outbox } from "../http/outbox.ts";
import { KIND_RESPOND, type Region } from "../http/records.ts";

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
  #region: Region;
  #outbox: Outbox;

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
    this.#region = region(layout.outbox, layout.outboxSize);
    this.#outbox = new Outbox(this.#region, submit);
  }

  /** Queues a record; records go out together at the end of the current microtask run. */
  write(kind: number, id: number, body: Uint8Array | null): void {
    if (
      !this.#outbox.write(
        { kind, flags: 0, status: 200, id, headers: [] },
        body,
      )
    ) {
      throw new RangeError(
        `a response of ${body?.length} bytes exceeds the outbox`,
      );
    }
  }

  /** Writes a complete response (frames) for `id`. */
  respond(id: number, frames: Uint8Array): void {
    this.write(KIND_RESPOND, id, frames);
  }

  /** Sends what the outbox holds. */
  flush(): void {
    this.#outbox.flush();
  }

  /** Flushes, then detaches every view (before the kernel frees the rings). */
  close(): void {
    this.#outbox.close();
    for (let i = 0; i < this.inboxes.length; i++) {
      detach(this.inboxes[i].buffer);
    }
    detach(this.#region.buffer);
  }
}
