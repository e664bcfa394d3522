/**
 * The TypeScript side of the HTTP bridge: drains request records in batches, runs the
 * handler, and writes responses back in batches (see `crates/krepis-kernel/src/http`).
 *
 * Wake-up scheme: the loop drives the kernel in synchronous *turns* on this thread: one
 * `turn` call submits the responses written since the last one, lets the kernel write them,
 * accept, read and parse, and returns the new request records. Only when a turn finds no
 * work does the loop await the `nonblocking` `wait`, which runs the kernel on a blocking
 * thread until there is some; responses completed meanwhile are flushed from a microtask.
 *
 * Lifecycle of a request here: it is *pending* from its record until its response (or a
 * release after an abort) went out; then its body is no longer read from kernel memory
 * and its body source is closed. The handler, `onError` and a streamed response body are
 * *active* work, which `finished` waits for. Nothing in here iterates arrays with `for…of`
 * or destructuring: user code may replace `Array.prototype[Symbol.iterator]`, and serving
 * must not care.
 *
 * @module
 */

import {
  type BridgeLayout,
  HttpStatsSchema,
  type KernelBindings,
  ServerAddressSchema,
} from "@krepis/bindings";
import {
  ABORT_WATCH,
  KERNEL_ORIGIN,
  type KernelOrigin,
} from "../context/abort_watch.ts";
import { readVariable } from "../native/library.ts";
import { numeric } from "../native/numeric.ts";
import type { LoadedKernel } from "../native/loader.ts";
import { Codec } from "./control.ts";
import { Outbox } from "./outbox.ts";
import { PendingTable } from "./pending.ts";
import { type BodySource, KernelRequest } from "./request.ts";
import {
  FLAG_BODY_BUFFERED,
  FLAG_BODY_STREAMED,
  FLAG_STAGED_BODY,
  FLAG_TRACE_HEADERS,
  FLAG_WEBSOCKET,
  KIND_RELEASE,
  KIND_RESPOND,
  KIND_RESPOND_STREAM,
  readRecords,
  type RequestRecord,
  type ResponseHead,
} from "./records.ts";
import {
  type AnswerHandler,
  BODY_INLINE,
  KernelAnswer,
  LaterAnswer,
  readResponse,
  type ResponseParts,
} from "./response.ts";
import {
  closeWebSockets,
  offerWebSocket,
  pumpWebSockets,
} from "./websocket.ts";
import { type Layer, Pending } from "../pipeline/pending.ts";
import type {
  HttpServer,
  RequestContext,
  ServeHandlerInfo,
  ServerStats,
  ShutdownOptions,
} from "./types.ts";

/** Bodies at least this large skip the outbox (see `#sendLarge`). */
const STAGE_THRESHOLD = 64 * 1024;
/** How long one `wait` parks before the loop checks in again. */
const WAIT_MS = 60_000;
/**
 * Turns in a row with work after which the loop goes through `wait` anyway (which returns
 * at once when there is work), so that Deno's event loop runs its timers and I/O.
 */
const BUSY_TURNS = 16;
/**
 * Microtask ticks a turn that found nothing gives the handlers of the batch before it
 * (those that await a body, say) to answer, before the loop parks: their responses then go
 * out with the next turn on this thread instead of waking the parked kernel thread.
 */
const SETTLE_TICKS = 8;
/**
 * Microtask ticks a busy turn gives the handlers still running to answer before the next
 * turn (see `#run`).
 */
const ANSWER_TICKS = 3;
/** Chunk size for reading streamed request bodies. */
const READ_CHUNK = 64 * 1024;
/** Read buffers kept for reuse: a short read hands out a copy of its bytes instead. */
const SPARE_READS = 16;
const TWO_32 = 2 ** 32;
const ADDRESS = new Codec(ServerAddressSchema);
const STATS = new Codec(HttpStatsSchema);

const EMPTY = new Uint8Array(0);
const ENCODER = new TextEncoder();
const NO_HEADERS: readonly string[] = [];

/** How the requests of one server reach their bodies. */
interface BodyAccess {
  /** A pointer the kernel's body addresses are read relative to (the first inbox). */
  base: Deno.PointerObject;
  /** Its address. */
  baseAddress: number;
  /** Reads the next chunk of a streamed body. */
  read(exchange: Exchange): Promise<Uint8Array<ArrayBuffer> | null>;
}

/**
 * A request TypeScript is working on — pending from its record until its response (or a
 * release after an abort) went out — and the source of its body.
 *
 * A buffered body stays in kernel memory, where the kernel keeps it until this side's
 * response or release is submitted. It is copied out from there on demand, and only
 * while `#lent` says so: the request's end clears it before the record that lets the
 * kernel free the body is written. No view of that memory is made, so nothing can read it
 * after it is freed. An abandoned request whose handler still runs keeps a copy.
 */
class Exchange implements BodySource, KernelOrigin {
  readonly id: number;
  readonly record: RequestRecord;
  readonly size: number;
  /** Set once the response went out: the body reads as closed. */
  closed = false;
  /** True once the kernel gave up on the request (client gone, deadline, forced close). */
  aborted = false;
  /** True once a response (or release) went out. */
  done = false;
  controller: AbortController | undefined = undefined;
  /** Cancels the response body being streamed, if one is. */
  cancel: ((reason: unknown) => void) | undefined = undefined;
  /** Settles `info.completed`, once it was asked for. */
  complete: (() => void) | undefined = undefined;
  #access: BodyAccess;
  /** Whether the buffered body is still readable in kernel memory. */
  #lent: boolean;
  /** The body's copy, once the kernel's is no longer readable (abandoned request). */
  #own: Uint8Array | undefined = undefined;
  /** Who hears of an abort without a signal made for them (see `watch`). */
  #watchers: EventListenerObject[] | undefined = undefined;

  constructor(record: RequestRecord, access: BodyAccess) {
    this.id = record.id;
    this.record = record;
    this.#access = access;
    const buffered = (record.flags & FLAG_BODY_BUFFERED) !== 0;
    this.size = buffered ? record.bodyLen : -1;
    this.#lent = buffered;
  }

  /** Whether the request has a body at all. */
  get hasBody(): boolean {
    return (this.record.flags & (FLAG_BODY_BUFFERED | FLAG_BODY_STREAMED)) !==
      0;
  }

  copyTo(into: Uint8Array): void {
    if (this.#own !== undefined) into.set(this.#own);
    else if (this.#lent) {
      const access = this.#access;
      Deno.UnsafePointerView.copyInto(
        access.base,
        into,
        this.record.bodyAddr - access.baseAddress,
      );
    } else throw new TypeError("Request closed");
  }

  read(): Promise<Uint8Array<ArrayBuffer> | null> {
    return this.#access.read(this);
  }

  /**
   * Registers (`add`) or removes a listener of the abort that needs no signal made for
   * it (see `context/abort_watch.ts`); `false` when the request has aborted already.
   */
  watch(listener: EventListenerObject, add: boolean): boolean {
    const watchers = this.#watchers;
    if (!add) {
      const at = watchers === undefined ? -1 : watchers.indexOf(listener);
      if (at >= 0) watchers!.splice(at, 1);
      return true;
    }
    if (this.aborted) return false;
    if (watchers === undefined) this.#watchers = [listener];
    else watchers.push(listener);
    return true;
  }

  /** The kernel gave up on the request: its signal fires and its watchers hear of it. */
  abort(): void {
    this.aborted = true;
    this.controller?.abort(abortReason());
    const watchers = this.#watchers;
    if (watchers === undefined) return;
    this.#watchers = undefined;
    const event = new Event("abort");
    for (let i = 0; i < watchers.length; i++) {
      // As an event's dispatch does: one listener's error stops none of the others.
      try {
        watchers[i].handleEvent(event);
      } catch (error) {
        reportError(error);
      }
    }
  }

  /** See `KernelOrigin`: the record's ids, cut out of its text when read. */
  get requestId(): string {
    return this.record.requestId;
  }

  /** See `requestId`. */
  get traceId(): string {
    return this.record.traceId;
  }

  /** See `requestId`. */
  get spanId(): string {
    return this.record.spanId;
  }

  /** See `requestId`. */
  get parentSpanId(): string | undefined {
    return this.record.parentSpanId || undefined;
  }

  /** See `requestId`. */
  get deadline(): number {
    return this.record.deadline || Infinity;
  }

  /** Follows the abort without making the signal (see `context/abort_watch.ts`). */
  [ABORT_WATCH](listener: EventListenerObject, add: boolean): boolean {
    return this.watch(listener, add);
  }

  /** The request's signal, made when first asked for. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(abortReason());
    }
    return this.controller.signal;
  }

  /**
   * The kernel's copy of the body is about to become freeable: with `keep`, the body stays
   * readable from a copy (a buffered body fully arrived); otherwise it closes.
   */
  release(keep: boolean): void {
    if (keep && this.#lent && !this.closed && this.size > 0) {
      const own = new Uint8Array(this.size);
      this.copyTo(own);
      this.#own = own;
    }
    this.#lent = false;
    if (!keep) this.closed = true;
  }
}

function abortReason(): DOMException {
  return new DOMException(
    "The client disconnected or the request deadline passed",
    "AbortError",
  );
}

/** Own data properties (a context is spread and logged by user code). */
class Context implements RequestContext {
  readonly requestId: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly deadline: number;
  #exchange: Exchange;

  constructor(exchange: Exchange) {
    const record = exchange.record;
    this.requestId = record.requestId;
    this.traceId = record.traceId;
    this.spanId = record.spanId;
    this.parentSpanId = record.parentSpanId || undefined;
    this.deadline = record.deadline || Infinity;
    this.#exchange = exchange;
  }

  get signal(): AbortSignal {
    return this.#exchange.signal;
  }

  /** Follows the abort without making the signal (see `context/abort_watch.ts`). */
  [ABORT_WATCH](listener: EventListenerObject, add: boolean): boolean {
    return this.#exchange.watch(listener, add);
  }
}

/** How a followed answer ends (the server's, shared by its requests). */
interface Ends {
  answered(exchange: Exchange, response: unknown): void;
  failed(exchange: Exchange, error: unknown): void;
}

/**
 * Follows an app's pending answer (a pipeline's `Pending`) for one request as `#follow`
 * does a `LaterAnswer`, as one object instead of a `LaterAnswer`, its closure and two
 * more: the first settlement counts.
 */
class Following implements Layer {
  #exchange: Exchange;
  #ends: Ends;
  #settled = false;

  constructor(exchange: Exchange, ends: Ends) {
    this.#exchange = exchange;
    this.#ends = ends;
  }

  ok(response: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#ends.answered(this.#exchange, response);
  }

  err(error: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#ends.failed(this.#exchange, error);
  }
}

/** Like Deno's: `remoteAddr` (and here `ctx`) is made when first read. */
class Info implements ServeHandlerInfo {
  #exchange: Exchange;
  #ctx: Context | undefined = undefined;
  #remoteAddr: Deno.NetAddr | undefined = undefined;
  #completed: Promise<void> | undefined = undefined;

  constructor(exchange: Exchange) {
    this.#exchange = exchange;
  }

  get ctx(): Context {
    return this.#ctx ??= new Context(this.#exchange);
  }

  /** The request's ids, deadline and abort without `ctx`'s copy (for `requestContext`). */
  get [KERNEL_ORIGIN](): KernelOrigin {
    return this.#exchange;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#remoteAddr ??= {
      transport: "tcp",
      hostname: this.#exchange.record.remoteIp,
      port: this.#exchange.record.remotePort,
    };
  }

  get completed(): Promise<void> {
    if (this.#completed === undefined) {
      const exchange = this.#exchange;
      this.#completed = exchange.done
        ? Promise.resolve()
        : new Promise((resolve) => exchange.complete = resolve);
    }
    return this.#completed;
  }
}

function view(address: bigint, length: number): ArrayBuffer {
  const pointer = Deno.UnsafePointer.create(address);
  if (pointer === null) throw new Error("the kernel lent a null address");
  return Deno.UnsafePointerView.getArrayBuffer(pointer, length);
}

function region(address: bigint, size: bigint) {
  const buffer = view(address, Number(size));
  return { buffer, view: new DataView(buffer), bytes: new Uint8Array(buffer) };
}

/** A running server; made by `serve()`. */
export class KernelServer implements HttpServer {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #kernel: KernelBindings;
  #handle: number;
  #key: number;
  #handler: AnswerHandler;
  #onError: (error: unknown) => Response | Promise<Response>;
  #inboxes: { buffer: ArrayBuffer; view: DataView; bytes: Uint8Array }[];
  #outboxRegion: { buffer: ArrayBuffer; view: DataView; bytes: Uint8Array };
  #outbox: Outbox;
  /** True while the loop waits in `httpWait` (the kernel runs on a blocking thread). */
  #parked = false;
  #pending = new PendingTable<Exchange>();
  #head: ResponseHead = {
    kind: 0,
    flags: 0,
    status: 0,
    id: 0,
    headers: NO_HEADERS,
    more: NO_HEADERS,
  };
  #access: BodyAccess;
  #shuttingDown = false;
  #closed = false;
  // Garbage 64 KiB read buffers were what stayed in glibc's arenas after 10k aborted
  // uploads (issue 9 item 5): reuse them, and hand out only what was read.
  #spareReads: Uint8Array<ArrayBuffer>[] = [];
  /** Set when connections were closed at a deadline: running handlers are not waited for. */
  #forced = false;
  #deadline: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;
  /** Handlers, `onError` calls and streamed response bodies still running. */
  #active = 0;
  #idle: (() => void) | undefined;

  /**
   * Takes over the started server `layout` describes. If this fails, the caller closes the
   * server with `layout.key` (see `serve`).
   */
  constructor(
    kernel: LoadedKernel,
    layout: BridgeLayout,
    handler: AnswerHandler,
    onError: (error: unknown) => Response | Promise<Response>,
  ) {
    this.#kernel = kernel.bindings;
    this.#handle = Number(layout.handle);
    this.#key = Number(layout.key);
    this.#handler = handler;
    this.#onError = onError;
    const address = ADDRESS.decode(
      readVariable((buf) => kernel.bindings.httpAddress(this.#handle, buf)),
    );
    this.addr = {
      transport: "tcp",
      hostname: address.hostname,
      port: address.port,
    };
    const inboxes = [];
    for (let i = 0; i < layout.inboxes.length; i++) {
      inboxes[i] = region(layout.inboxes[i], layout.inboxSize);
    }
    this.#inboxes = inboxes;
    const base = Deno.UnsafePointer.create(layout.inboxes[0]);
    if (base === null) throw new Error("the kernel lent a null address");
    this.#access = {
      base,
      baseAddress: Number(layout.inboxes[0]),
      read: (exchange) => this.#readBody(exchange),
    };
    this.#outboxRegion = region(layout.outbox, layout.outboxSize);
    // While the loop turns, its next turn submits the outbox on the way; only while it is
    // parked do responses go out from the end of a microtask run.
    this.#outbox = new Outbox(
      this.#outboxRegion,
      this.#submit,
      () => this.#parked,
    );
    this.finished = this.#run().then(() => this.#settled()).finally(() => {
      if (this.#deadline !== undefined) clearTimeout(this.#deadline.timer);
    });
  }

  /**
   * Stops accepting, lets in-flight requests finish, then closes. With `timeout`, whatever
   * is still open then is closed: clients are cut off, handlers' signals fire, response
   * bodies are cancelled, and `finished` settles without waiting for those handlers.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    const timeout = options?.timeout;
    if (
      timeout !== undefined &&
      (typeof timeout !== "number" || !(timeout >= 0) || timeout > 2 ** 31 - 1)
    ) {
      throw new RangeError(
        `shutdown timeout must be between 0 and ${
          2 ** 31 - 1
        } ms, got ${timeout}`,
      );
    }
    if (!this.#shuttingDown && !this.#closed) {
      this.#shuttingDown = true;
      this.#kernel.httpShutdown(this.#handle);
    }
    if (timeout !== undefined && !this.#closed) {
      const at = Date.now() + timeout;
      if (this.#deadline === undefined || at < this.#deadline.at) {
        if (this.#deadline !== undefined) clearTimeout(this.#deadline.timer);
        this.#deadline = { at, timer: setTimeout(this.#forceClose, timeout) };
      }
    }
    return this.finished;
  }

  /** Shuts down gracefully (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Live counters from the kernel. */
  stats(): ServerStats {
    return numeric(STATS.decode(
      readVariable((buf) => this.#kernel.httpStats(this.#handle, buf)),
    ));
  }

  async #run(): Promise<void> {
    const kernel = this.#kernel;
    const handle = this.#handle;
    let busy = 0;
    let lastPolled = 0;
    try {
      while (!this.#closed) {
        const len = this.#outbox.take();
        let polled = 0;
        try {
          polled = kernel.httpTurn(handle, len);
        } catch (error) {
          // Only a malformed record (a bug here) gets this far; its requests time out or
          // end with their connections.
          console.error("krepis: a response batch was refused:", error);
        }
        if (polled > 0) {
          const inbox = this.#inboxes[Math.floor(polled / TWO_32)];
          readRecords(
            inbox.view,
            inbox.bytes,
            polled % TWO_32,
            this.#onRequest,
            this.#onAbort,
          );
        }
        // WebSocket events the turn brought in (their sockets' tasks ran in it): handlers
        // send at once, and the next turn writes that out.
        const events = pumpWebSockets(handle);
        if (
          (polled > 0 || events > 0 || this.#outbox.length > 0) &&
          ++busy < BUSY_TURNS
        ) {
          // Handlers' promise callbacks run now; their responses go out with the next turn.
          lastPolled = polled;
          await undefined;
          // An `async` handler awaiting a settled promise (a store in memory) answers a
          // few promise turns after this one: waiting for it here sends its response with
          // the next kernel turn instead of the one after (which was a turn more per batch
          // for the todo example's GET).
          for (let i = 0; i < ANSWER_TICKS && this.#active > 0; i++) {
            await undefined;
          }
          continue;
        }
        if (polled === 0 && lastPolled > 0 && busy < BUSY_TURNS) {
          lastPolled = 0;
          for (let i = 0; i < SETTLE_TICKS && this.#outbox.length === 0; i++) {
            await undefined;
          }
          if (this.#outbox.length > 0) continue;
        }
        lastPolled = 0;
        // Nothing to do (or a long busy stretch, after which Deno's own timers and I/O get
        // their turn): the kernel runs on a blocking thread until there is work, and
        // responses completed meanwhile are submitted at once.
        busy = 0;
        this.#parked = true;
        this.#flush();
        let woke: number;
        try {
          woke = await kernel.httpWait(handle, WAIT_MS);
        } catch (error) {
          // Closed meanwhile (a forced shutdown, the signal option): a wait still queued
          // for a blocking thread then finds the handle released. Nothing is left to wait for.
          if (this.#closed) break;
          throw error;
        } finally {
          this.#parked = false;
        }
        if (woke === 0) break;
      }
    } finally {
      this.#close();
    }
  }

  /** Resolves once no handler, `onError` or response body is running (or after a forced close). */
  #settled(): Promise<void> | undefined {
    if (this.#active === 0 || this.#forced) return;
    return new Promise((resolve) => this.#idle = resolve);
  }

  #enter(): void {
    this.#active++;
  }

  #leave = (): void => {
    if (--this.#active === 0) this.#wake();
  };

  #wake(): void {
    const idle = this.#idle;
    this.#idle = undefined;
    idle?.();
  }

  #onRequest = (record: RequestRecord): void => {
    const exchange = new Exchange(record, this.#access);
    this.#pending.add(exchange);
    const request = new KernelRequest(
      record,
      exchange.hasBody ? exchange : null,
      exchange,
    ) as unknown as Request;
    if (record.flags & FLAG_WEBSOCKET) {
      offerWebSocket(
        request,
        this.#kernel,
        this.#handle,
        record.id,
        () => exchange.done,
      );
    }
    const info = new Info(exchange);
    this.#enter();
    let result: unknown;
    try {
      result = this.#handler(request, info);
    } catch (error) {
      this.#leave();
      this.#fail(exchange, error);
      return;
    }
    // Most handlers are `async`: their promise is checked for first.
    if (result instanceof Promise) return this.#await(exchange, result);
    if (result instanceof Response || result instanceof KernelAnswer) {
      this.#leave();
      this.#respond(exchange, result);
    } else if (result instanceof Pending) {
      const following = new Following(exchange, this.#ends);
      try {
        result.to(following);
      } catch (error) {
        following.err(error);
      }
    } else if (result instanceof LaterAnswer) {
      this.#follow(exchange, result);
    } else this.#await(exchange, result);
  };

  #ends: Ends = {
    answered: (exchange, response) => {
      this.#leave();
      this.#respond(exchange, response);
    },
    failed: (exchange, error) => {
      this.#leave();
      this.#fail(exchange, error);
    },
  };

  /** Waits for a handler's promise (or any other value, as `Promise.resolve` takes it). */
  #await(exchange: Exchange, result: unknown): void {
    Promise.resolve(result).then(
      (response) => {
        this.#leave();
        this.#respond(exchange, response);
      },
      (error) => {
        this.#leave();
        this.#fail(exchange, error);
      },
    );
  }

  /** Follows a `LaterAnswer` as a promise would: the first settlement counts. */
  #follow(exchange: Exchange, later: LaterAnswer): void {
    let settled = false;
    try {
      later.start((response) => {
        if (settled) return;
        settled = true;
        this.#leave();
        this.#respond(exchange, response);
      }, (error) => {
        if (settled) return;
        settled = true;
        this.#leave();
        this.#fail(exchange, error);
      });
    } catch (error) {
      if (settled) return;
      settled = true;
      this.#leave();
      this.#fail(exchange, error);
    }
  }

  #onAbort = (id: number): void => {
    const exchange = this.#pending.get(id);
    if (exchange !== undefined) this.#abandon(exchange);
    this.#write(KIND_RELEASE, 0, 200, id, NO_HEADERS, null);
  };

  /**
   * The kernel gave up on the request (or the server is closing): fire its signal, cancel
   * its response body, and forget it. A buffered body fully arrived, so a handler still
   * running keeps it readable: it gets a copy before the kernel may free its own.
   */
  #abandon(exchange: Exchange): void {
    exchange.abort();
    exchange.cancel?.(abortReason());
    this.#finish(exchange, false);
  }

  #fail(exchange: Exchange, error: unknown): void {
    if (exchange.done || this.#closed) return;
    let response: unknown;
    this.#enter();
    try {
      response = this.#onError(error);
    } catch (again) {
      console.error("onError failed:", again);
      response = internalError();
    }
    Promise.resolve(response).then(
      (r) => {
        this.#leave();
        this.#respond(exchange, r, true);
      },
      (again) => {
        this.#leave();
        console.error("onError failed:", again);
        this.#respond(exchange, internalError(), true);
      },
    );
  }

  /** Tells `onError` (or the log) about a failure after the response head went out. */
  #report(error: unknown): void {
    try {
      Promise.resolve(this.#onError(error)).catch((again) =>
        console.error("onError failed:", again)
      );
    } catch (again) {
      console.error("onError failed:", again);
    }
  }

  #respond(exchange: Exchange, value: unknown, fromError = false): void {
    if (exchange.done || this.#closed) return;
    if (value instanceof KernelAnswer) {
      this.#send(
        exchange,
        value.status,
        value.headers,
        value.body,
        value.more,
        value.traceHeaders ? FLAG_TRACE_HEADERS : 0,
      );
      return;
    }
    let parts: ResponseParts;
    try {
      parts = readResponse(value);
    } catch (error) {
      if (fromError) this.#send(exchange, 500, NO_HEADERS, null);
      else this.#fail(exchange, error);
      return;
    }
    const { status, headers, read } = parts;
    const response = value as Response;
    if (read === BODY_INLINE) {
      // Copied (or encoded) into the outbox, or handed to the kernel, right away: nothing
      // can change it afterwards.
      this.#send(exchange, status, headers, parts.body);
      // `parts` may be reused by the next read: let a large body go with its Response.
      parts.body = null;
    } else this.#stream(exchange, status, headers, response, fromError);
  }

  #send(
    exchange: Exchange,
    status: number,
    headers: readonly string[],
    body: string | Uint8Array<ArrayBuffer> | null,
    more: readonly string[] = NO_HEADERS,
    flags = 0,
  ): void {
    if (exchange.done || this.#closed) return;
    if (body !== null && body.length >= STAGE_THRESHOLD) {
      this.#sendLarge(exchange, status, headers, body, more, flags);
      return;
    }
    // Submitting this record lets the kernel free the request body: `#finish` stops reading
    // it right away, before any submit (handlers only ever get copies of it).
    this.#write(KIND_RESPOND, flags, status, exchange.id, headers, body, more);
    this.#finish(exchange);
  }

  /**
   * A large body skips the outbox: it goes to the kernel now, with the records written so
   * far, in one synchronous call. User code may hold these very bytes (a `Response`'s
   * `clone()` shares them) and detach them whenever it runs — but not during that call, so
   * the kernel reads them only inside it: it writes what the socket takes then and copies
   * the rest before it returns (see `crates/krepis-kernel/src/http/borrowed.rs`).
   */
  #sendLarge(
    exchange: Exchange,
    status: number,
    headers: readonly string[],
    body: string | Uint8Array<ArrayBuffer>,
    more: readonly string[],
    flags: number,
  ): void {
    const bytes = typeof body === "string" ? ENCODER.encode(body) : body;
    const id = exchange.id;
    this.#write(
      KIND_RESPOND,
      flags | FLAG_STAGED_BODY,
      status,
      id,
      headers,
      null,
      more,
    );
    this.#finish(exchange);
    try {
      this.#kernel.httpSend(this.#handle, this.#outbox.take(), id, bytes);
    } catch (error) {
      console.error("krepis: a response batch was refused:", error);
    }
  }

  /**
   * Streams a response body. It ends cleanly only when the stream does; when the stream
   * throws or yields something other than bytes, the error goes to `onError` and the
   * response is cut off (never a complete-looking truncated body); when the client goes
   * away, the stream is cancelled.
   */
  async #stream(
    exchange: Exchange,
    status: number,
    headers: readonly string[],
    response: Response,
    fromError: boolean,
  ): Promise<void> {
    let reader: ReadableStreamDefaultReader<Uint8Array>;
    try {
      reader = response.body!.getReader();
    } catch (error) {
      if (fromError) this.#send(exchange, 500, NO_HEADERS, null);
      else this.#fail(exchange, error);
      return;
    }
    this.#enter();
    this.#write(KIND_RESPOND_STREAM, 0, status, exchange.id, headers, null);
    this.#flush();
    exchange.cancel = (reason) => {
      reader.cancel(reason).catch(() => {});
    };
    let failure: { error: unknown } | undefined;
    let clientGone = false;
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        failure = { error };
        break;
      }
      if (exchange.aborted || this.#closed) {
        clientGone = true;
        break;
      }
      if (chunk.done) break;
      const value = chunk.value;
      if (!(value instanceof Uint8Array)) {
        failure = { error: new TypeError("expected typed ArrayBufferView") };
        break;
      }
      if (value.length === 0) continue;
      try {
        await this.#kernel.httpWrite(
          this.#handle,
          exchange.id,
          value as Uint8Array<ArrayBuffer>,
        );
      } catch {
        clientGone = true;
        break;
      }
    }
    exchange.cancel = undefined;
    if (failure !== undefined || clientGone) {
      reader.cancel(failure?.error ?? abortReason()).catch(() => {});
    }
    if (failure !== undefined) this.#report(failure.error);
    // Ending the body frees the request's slot (request body included): detach the body
    // view first, so nothing can read that memory once it is freed.
    const aborted = exchange.aborted;
    this.#finish(exchange);
    if (!aborted && !this.#closed) {
      try {
        if (failure !== undefined || clientGone) {
          this.#kernel.httpAbort(this.#handle, exchange.id);
        } else {
          await this.#kernel.httpWrite(this.#handle, exchange.id, EMPTY);
        }
      } catch {
        // The client or the server went away meanwhile: nothing left to end.
      }
    }
    this.#leave();
  }

  async #readBody(exchange: Exchange): Promise<Uint8Array<ArrayBuffer> | null> {
    if (exchange.aborted) {
      throw new DOMException("The request was aborted", "AbortError");
    }
    const chunk = this.#spareReads.pop() ?? new Uint8Array(READ_CHUNK);
    let n: number;
    try {
      n = await this.#kernel.httpRead(this.#handle, exchange.id, chunk);
    } catch (error) {
      this.#spareRead(chunk);
      // The upload broke off (or grew past the limit): the request cannot complete, so
      // its signal fires now, not only when the kernel's abort notice is polled — the
      // handler may answer before that.
      if (!exchange.aborted) exchange.abort();
      throw error;
    }
    // Once the server stopped, the kernel reports an end that is none.
    if (exchange.aborted) {
      this.#spareRead(chunk);
      throw new DOMException("The request was aborted", "AbortError");
    }
    if (n > READ_CHUNK / 2) return chunk.subarray(0, n);
    const bytes = n === 0 ? null : chunk.slice(0, n);
    this.#spareRead(chunk);
    return bytes;
  }

  #spareRead(chunk: Uint8Array<ArrayBuffer>): void {
    if (this.#spareReads.length < SPARE_READS) this.#spareReads.push(chunk);
  }

  /**
   * The request is over on this side: stop reading its body from kernel memory (before
   * the record that lets the kernel free it is written), close its body source (unless it
   * was abandoned with a readable copy), settle `info.completed` and forget it. Never
   * throws — it runs on every request's way out.
   */
  #finish(exchange: Exchange, close = true): void {
    if (exchange.done) return;
    exchange.done = true;
    try {
      exchange.release(!close);
    } catch (error) {
      console.error("krepis: could not keep a request body:", error);
    }
    exchange.complete?.();
    this.#pending.delete(exchange);
  }

  #write(
    kind: number,
    flags: number,
    status: number,
    id: number,
    headers: readonly string[],
    body: string | Uint8Array | null,
    more: readonly string[] = NO_HEADERS,
  ): void {
    // One head object, refilled per record (the outbox copies it out at once).
    const head = this.#head;
    head.kind = kind;
    head.flags = flags;
    head.status = status;
    head.id = id;
    head.headers = headers;
    head.more = more;
    if (!this.#outbox.write(head, body)) {
      // Headers larger than the whole outbox: answer 500 rather than nothing.
      head.kind = KIND_RESPOND;
      head.flags = 0;
      head.status = 500;
      head.headers = NO_HEADERS;
      head.more = NO_HEADERS;
      this.#outbox.write(head, null);
    }
    head.headers = NO_HEADERS;
    head.more = NO_HEADERS;
  }

  #flush(): void {
    this.#outbox.flush();
  }

  #submit = (length: number): void => {
    try {
      this.#kernel.httpRespond(this.#handle, length);
    } catch (error) {
      // Only a malformed record (a bug here) gets this far; its requests time out or
      // end with their connections.
      console.error("krepis: a response batch was refused:", error);
    }
  };

  /** The shutdown deadline passed: close whatever is still open, now. */
  #forceClose = (): void => {
    this.#forced = true;
    this.#close();
    this.#wake();
  };

  #close(): void {
    if (this.#closed) return;
    this.#outbox.close();
    this.#closed = true;
    const left = this.#pending.values();
    for (let i = 0; i < left.length; i++) this.#abandon(left[i]);
    for (let i = 0; i < this.#inboxes.length; i++) {
      this.#inboxes[i].buffer.transfer(0);
    }
    this.#outboxRegion.buffer.transfer(0);
    closeWebSockets(this.#handle);
    // Returns once the kernel's runtime has stopped.
    try {
      this.#kernel.httpClose(this.#handle, this.#key);
    } catch (error) {
      console.error("krepis: closing the server failed:", error);
    }
  }
}

function internalError(): Response {
  return new Response("Internal Server Error", { status: 500 });
}
