/**
 * The TypeScript side of the HTTP bridge: drains request records in batches, runs the
 * handler, and writes responses back in batches (see `crates/krepis-kernel/src/http`).
 *
 * Wake-up scheme: a synchronous `poll` (nanoseconds) takes every waiting record; only then
 * does the loop await the `nonblocking` `wait`, which returns at once when more records
 * arrived meanwhile and parks otherwise. Responses completed synchronously go out with the
 * batch; later ones are flushed together from one microtask.
 *
 * @module
 */

import { fromBinary } from "@bufbuild/protobuf";
import {
  BridgeLayoutSchema,
  HttpStatsSchema,
  type KernelBindings,
  ServerAddressSchema,
} from "@krepis/bindings";
import { readVariable } from "../native/library.ts";
import { numeric } from "../native/numeric.ts";
import type { LoadedKernel } from "../native/loader.ts";
import { KernelRequest } from "./request.ts";
import {
  FLAG_BODY_BUFFERED,
  FLAG_BODY_STREAMED,
  FLAG_STAGED_BODY,
  FLAG_WEBSOCKET,
  KIND_RELEASE,
  KIND_RESPOND,
  KIND_RESPOND_STREAM,
  readRecords,
  type RequestRecord,
  writeResponse,
} from "./records.ts";
import { bodyKind, headerList } from "./response.ts";
import { offerWebSocket } from "./websocket.ts";
import type {
  HttpServer,
  RequestContext,
  ServeHandler,
  ServeHandlerInfo,
  ServerStats,
} from "./types.ts";

/** Bodies at least this large skip the outbox and are lent to the kernel (no copy). */
const STAGE_THRESHOLD = 64 * 1024;
/** How long one `wait` parks before the loop checks in again. */
const WAIT_MS = 60_000;
/** Chunk size for reading streamed request bodies. */
const READ_CHUNK = 64 * 1024;
const TWO_32 = 2 ** 32;
const EMPTY = new Uint8Array(0);

/** A request TypeScript is working on. */
interface Pending {
  id: number;
  /** The kernel memory lent as the body; detached when the request ends. */
  buffer: ArrayBuffer | undefined;
  controller: AbortController | undefined;
  /** True once the kernel gave up on the request (client gone, deadline). */
  aborted: boolean;
  /** True once a response (or release) went out. */
  done: boolean;
}

function abortReason(): DOMException {
  return new DOMException(
    "The client disconnected or the request deadline passed",
    "AbortError",
  );
}

function signalOf(pending: Pending): AbortSignal {
  if (pending.controller === undefined) {
    pending.controller = new AbortController();
    if (pending.aborted) pending.controller.abort(abortReason());
  }
  return pending.controller.signal;
}

class Context implements RequestContext {
  readonly requestId: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly deadline: number;
  #pending: Pending;

  constructor(record: RequestRecord, pending: Pending) {
    this.requestId = record.requestId;
    this.traceId = record.traceId;
    this.spanId = record.spanId;
    this.parentSpanId = record.parentSpanId || undefined;
    this.deadline = record.deadline || Infinity;
    this.#pending = pending;
  }

  get signal(): AbortSignal {
    return signalOf(this.#pending);
  }
}

function view(address: bigint, length: number): ArrayBuffer {
  const pointer = Deno.UnsafePointer.create(address);
  if (pointer === null) throw new Error("the kernel lent a null address");
  return Deno.UnsafePointerView.getArrayBuffer(pointer, length);
}

/** A running server; made by `serve()`. */
export class KernelServer implements HttpServer {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #kernel: KernelBindings;
  #handle: number;
  #handler: ServeHandler;
  #onError: (error: unknown) => Response | Promise<Response>;
  #inboxes: { buffer: ArrayBuffer; view: DataView; bytes: Uint8Array }[];
  #outbox: { buffer: ArrayBuffer; view: DataView; bytes: Uint8Array };
  #outLen = 0;
  #flushQueued = false;
  #pending = new Map<number, Pending>();
  /** Response bodies the kernel reads in place, by loan token; kept alive until returned. */
  #lent = new Map<number, Uint8Array>();
  #loans = 0;
  #shuttingDown = false;
  #closed = false;

  constructor(
    kernel: LoadedKernel,
    handle: number,
    handler: ServeHandler,
    onError: (error: unknown) => Response | Promise<Response>,
  ) {
    this.#kernel = kernel.bindings;
    this.#handle = handle;
    this.#handler = handler;
    this.#onError = onError;
    const address = fromBinary(
      ServerAddressSchema,
      readVariable((buf) => kernel.bindings.httpAddress(handle, buf)),
    );
    this.addr = {
      transport: "tcp",
      hostname: address.hostname,
      port: address.port,
    };
    const layout = fromBinary(
      BridgeLayoutSchema,
      readVariable((buf) => kernel.bindings.httpLayout(handle, buf)),
    );
    const region = (address: bigint, size: bigint) => {
      const buffer = view(address, Number(size));
      return {
        buffer,
        view: new DataView(buffer),
        bytes: new Uint8Array(buffer),
      };
    };
    this.#inboxes = layout.inboxes.map((a) => region(a, layout.inboxSize));
    this.#outbox = region(layout.outbox, layout.outboxSize);
    this.finished = this.#run();
  }

  /** Stops accepting, lets in-flight requests finish, then closes. */
  shutdown(): Promise<void> {
    if (!this.#shuttingDown && !this.#closed) {
      this.#shuttingDown = true;
      this.#kernel.httpShutdown(this.#handle);
    }
    return this.finished;
  }

  /** Shuts down gracefully (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Live counters from the kernel. */
  stats(): ServerStats {
    return numeric(fromBinary(
      HttpStatsSchema,
      readVariable((buf) => this.#kernel.httpStats(this.#handle, buf)),
    ));
  }

  async #run(): Promise<void> {
    const kernel = this.#kernel;
    const handle = this.#handle;
    try {
      for (;;) {
        const polled = kernel.httpPoll(handle);
        if (polled > 0) {
          const inbox = this.#inboxes[Math.floor(polled / TWO_32)];
          readRecords(
            inbox.view,
            inbox.bytes,
            polled % TWO_32,
            this.#onRequest,
            this.#onAbort,
            this.#onReturned,
          );
        }
        this.#flush();
        if (await kernel.httpWait(handle, WAIT_MS) === 0) break;
      }
    } finally {
      this.#close();
    }
  }

  #onRequest = (record: RequestRecord): void => {
    const pending: Pending = {
      id: record.id,
      buffer: undefined,
      controller: undefined,
      aborted: false,
      done: false,
    };
    this.#pending.set(record.id, pending);
    let source = null;
    if (record.flags & FLAG_BODY_BUFFERED) {
      pending.buffer = view(BigInt(record.bodyAddr), record.bodyLen);
      source = { buffer: pending.buffer };
    } else if (record.flags & FLAG_BODY_STREAMED) {
      source = { read: () => this.#readBody(pending) };
    }
    const request = new KernelRequest(
      record,
      source,
      () => signalOf(pending),
    ) as unknown as Request;
    if (record.flags & FLAG_WEBSOCKET) {
      offerWebSocket(request, this.#kernel, this.#handle, record.id);
    }
    const info: ServeHandlerInfo = {
      remoteAddr: {
        transport: "tcp",
        hostname: record.remoteIp,
        port: record.remotePort,
      },
      ctx: new Context(record, pending),
    };
    let result: Response | Promise<Response>;
    try {
      result = this.#handler(request, info);
    } catch (error) {
      this.#fail(pending, error);
      return;
    }
    if (result instanceof Response) this.#respond(pending, result);
    else {
      Promise.resolve(result).then(
        (response) => this.#respond(pending, response),
        (error) => this.#fail(pending, error),
      );
    }
  };

  #onAbort = (id: number): void => {
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      pending.aborted = true;
      pending.controller?.abort(abortReason());
    }
    this.#finish(pending, id);
    this.#write(KIND_RELEASE, 0, 200, id, [], null);
  };

  #onReturned = (token: number): void => {
    this.#lent.delete(token);
  };

  #fail(pending: Pending, error: unknown): void {
    if (pending.done) return;
    let response: Response | Promise<Response>;
    try {
      response = this.#onError(error);
    } catch (again) {
      console.error("onError failed:", again);
      response = internalError();
    }
    Promise.resolve(response).then(
      (r) =>
        this.#respond(
          pending,
          r instanceof Response ? r : internalError(),
          true,
        ),
      (again) => {
        console.error("onError failed:", again);
        this.#respond(pending, internalError(), true);
      },
    );
  }

  #respond(pending: Pending, response: Response, fromError = false): void {
    if (pending.done || this.#closed) return;
    if (!(response instanceof Response)) {
      if (fromError) response = internalError();
      else {
        this.#fail(
          pending,
          new TypeError("The handler did not return a Response"),
        );
        return;
      }
    }
    const status = response.status;
    let headers: string[];
    let body;
    try {
      headers = headerList(response);
      body = bodyKind(response);
    } catch (error) {
      if (fromError) this.#send(pending, 500, [], null);
      else this.#fail(pending, error);
      return;
    }
    if (body.kind === "text") this.#send(pending, status, headers, body.text);
    else if (
      body.kind === "bytes" && body.bytes !== undefined &&
      body.bytes.length < STAGE_THRESHOLD
    ) {
      // Copied into the outbox right away: nothing can change it afterwards.
      this.#send(pending, status, headers, body.bytes);
    } else if (body.kind === "bytes") {
      // Read through the Response so it is consumed (`bodyUsed`): a large body is lent to
      // the kernel, and handler code must not be able to read, mutate or transfer it while
      // the kernel writes it out.
      response.bytes().then(
        (bytes) => this.#send(pending, status, headers, bytes),
        (error) =>
          fromError
            ? this.#send(pending, 500, [], null)
            : this.#fail(pending, error),
      );
    } else this.#stream(pending, status, headers, response.body!);
  }

  #send(
    pending: Pending,
    status: number,
    headers: string[],
    body: string | Uint8Array<ArrayBuffer> | null,
  ): void {
    if (pending.done || this.#closed) return;
    let flags = 0;
    if (body !== null && body.length >= STAGE_THRESHOLD) {
      // Large bodies are lent, not copied: the kernel writes them to the socket from this
      // very memory and returns the loan when done. (A large string costs its encoding.)
      const bytes = typeof body === "string"
        ? new TextEncoder().encode(body)
        : body;
      const token = ++this.#loans;
      this.#lent.set(token, bytes);
      this.#kernel.httpLend(this.#handle, pending.id, bytes, token);
      flags = FLAG_STAGED_BODY;
      body = null;
    }
    // The record is copied into the outbox before the request's body view is detached;
    // the body itself is never that view (handlers only ever get copies of it).
    this.#write(KIND_RESPOND, flags, status, pending.id, headers, body);
    this.#finish(pending, pending.id);
  }

  async #stream(
    pending: Pending,
    status: number,
    headers: string[],
    body: ReadableStream<Uint8Array>,
  ): Promise<void> {
    this.#write(KIND_RESPOND_STREAM, 0, status, pending.id, headers, null);
    this.#flush();
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || pending.aborted) break;
        if (!(value instanceof Uint8Array)) {
          throw new TypeError("A response stream must yield Uint8Array chunks");
        }
        if (value.length === 0) continue;
        await this.#kernel.httpWrite(
          this.#handle,
          pending.id,
          value as Uint8Array<ArrayBuffer>,
        );
      }
    } catch {
      // The client went away or the stream failed: stop reading it.
      reader.cancel().catch(() => {});
    } finally {
      // An empty write ends the body and frees the request's slot (request body included):
      // detach the body view first, so nothing can read that memory once it is freed.
      this.#finish(pending, pending.id);
      await this.#kernel.httpWrite(this.#handle, pending.id, EMPTY).catch(
        () => {},
      );
    }
  }

  async #readBody(pending: Pending): Promise<Uint8Array<ArrayBuffer> | null> {
    if (pending.aborted || pending.done) {
      throw new DOMException("The request was aborted", "AbortError");
    }
    const chunk = new Uint8Array(READ_CHUNK);
    const n = await this.#kernel.httpRead(this.#handle, pending.id, chunk);
    return n === 0 ? null : chunk.subarray(0, n);
  }

  /**
   * The request is over on this side: detach its body view and forget it. Never throws —
   * it runs on every request's way out. The view is the only reference to the kernel's
   * memory (user code only ever gets copies), so detaching it leaves nothing dangling.
   */
  #finish(pending: Pending | undefined, id: number): void {
    if (pending !== undefined) {
      pending.done = true;
      const buffer = pending.buffer;
      pending.buffer = undefined;
      if (buffer !== undefined && !buffer.detached) {
        try {
          buffer.transfer(0);
        } catch (error) {
          console.error("krepis: could not detach a request body:", error);
        }
      }
    }
    this.#pending.delete(id);
  }

  #write(
    kind: number,
    flags: number,
    status: number,
    id: number,
    headers: string[],
    body: string | Uint8Array | null,
  ): void {
    if (this.#closed) return;
    const { view, bytes } = this.#outbox;
    let len = writeResponse(
      view,
      bytes,
      this.#outLen,
      kind,
      flags,
      status,
      id,
      headers,
      body,
    );
    if (len < 0) {
      this.#flush();
      len = writeResponse(
        view,
        bytes,
        0,
        kind,
        flags,
        status,
        id,
        headers,
        body,
      );
    }
    if (len < 0) {
      // Headers larger than the whole outbox: answer 500 rather than nothing.
      len = writeResponse(view, bytes, 0, KIND_RESPOND, 0, 500, id, [], null);
    }
    this.#outLen += len;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flushTask);
    }
  }

  #flushTask = (): void => {
    this.#flushQueued = false;
    this.#flush();
  };

  #flush(): void {
    if (this.#outLen === 0 || this.#closed) return;
    const len = this.#outLen;
    this.#outLen = 0;
    try {
      this.#kernel.httpRespond(this.#handle, len);
    } catch (error) {
      // Only a malformed record (a bug here) gets this far; its requests time out or
      // end with their connections.
      console.error("krepis: a response batch was refused:", error);
    }
  }

  #close(): void {
    this.#flush();
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      pending.aborted = true;
      pending.controller?.abort(abortReason());
      this.#finish(pending, pending.id);
    }
    for (const region of [...this.#inboxes, this.#outbox]) {
      region.buffer.transfer(0);
    }
    // Returns once the kernel's runtime has stopped: nothing reads lent bodies any more.
    this.#kernel.httpClose(this.#handle);
    this.#lent.clear();
  }
}

function internalError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}
