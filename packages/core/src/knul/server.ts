/**
 * The KNUL server on the TypeScript side: takes call records in batches from the kernel
 * (which already admitted them), runs the handlers, and writes the response frames back
 * in batches. The kernel side is `crates/krepis-kernel/src/knul/server.rs`.
 *
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type KernelBindings,
  KnulServeOptionsSchema,
  KnulStatsSchema,
  ServerAddressSchema,
} from "@krepis/bindings";
import { createContext, type KrepisContext } from "../context/context.ts";
import { jsonLinesSink, type LogSink } from "../context/logger.ts";
import { KrepisError } from "../errors.ts";
import { KIND_RELEASE, KIND_RESPOND_STREAM } from "../http/records.ts";
import { readVariable } from "../native/library.ts";
import { numeric } from "../native/numeric.ts";
import { loadKernel } from "../native/loader.ts";
import { BridgeView, detach, kernelView } from "./bridge_view.ts";
import { KnulCall } from "./call_info.ts";
import {
  eachFrame,
  frame,
  MESSAGE,
  okFrames,
  STATUS_OK,
  statusFrame,
  textFrame,
} from "./frames.ts";
import {
  type CallRecord,
  FLAG_EARLY_DATA,
  FLAG_MESSAGE,
  readKnulRecords,
} from "./records.ts";
import { KnulError, KnulStatus, statusOf } from "./status.ts";
import type {
  KnulHandler,
  KnulMethod,
  KnulServeOptions,
  KnulServerStats,
} from "./types.ts";

const WAIT_MS = 60_000;
const TWO_32 = 2 ** 32;
/** Responses larger than this stream out instead of going through the outbox. */
const INLINE_MAX = 256 * 1024;
const READ_CHUNK = 64 * 1024;
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

interface Pending {
  id: number;
  /** The call's context, once made (for logging failures). */
  ctx: KrepisContext | undefined;
  controller: AbortController | undefined;
  aborted: boolean;
  done: boolean;
}

function abortReason(): DOMException {
  return new DOMException(
    "The KNUL call was cancelled or its deadline passed",
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

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] ===
      "function";
}

function count(name: string, value: number | undefined, max: number): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      `${name} must be an integer between 0 and ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * A running KNUL server; made by {@linkcode serveKnul}.
 *
 * @example
 * ```ts ignore
 * import { serveKnul } from "@krepis/core/knul";
 * declare const cert: string, key: string;
 * await using server = await serveKnul({ cert, key }, { ping: () => "pong" });
 * console.log(server.addr.port, server.stats().dispatchedTotal);
 * ```
 */
export class KnulServer implements AsyncDisposable {
  /** Where the server listens (UDP). */
  readonly addr: { hostname: string; port: number };
  /** Resolves once the server has stopped. */
  readonly finished: Promise<void>;
  #kernel: KernelBindings;
  #handle: number;
  #methods: Map<string, KnulMethod>;
  #log: LogSink;
  #bridge: BridgeView;
  #pending = new Map<number, Pending>();
  #closed = false;

  /** Use {@linkcode serveKnul}. */
  constructor(
    kernel: KernelBindings,
    handle: number,
    methods: Map<string, KnulMethod>,
    log: LogSink,
  ) {
    this.#kernel = kernel;
    this.#handle = handle;
    this.#methods = methods;
    this.#log = log;
    const address = fromBinary(
      ServerAddressSchema,
      readVariable((buf) => kernel.knulAddress(handle, buf)),
    );
    this.addr = { hostname: address.hostname, port: address.port };
    this.#bridge = new BridgeView(
      readVariable((buf) => kernel.knulLayout(handle, buf)),
      (len) => {
        try {
          kernel.knulRespond(handle, len);
        } catch (error) {
          console.error("krepis: a KNUL response batch was refused:", error);
        }
      },
    );
    this.finished = this.#run();
  }

  /** Live counters from the kernel. */
  stats(): KnulServerStats {
    return numeric(fromBinary(
      KnulStatsSchema,
      readVariable((buf) => this.#kernel.knulStats(this.#handle, buf)),
    ));
  }

  /** Stops at once: open calls are cancelled, connections close. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const pending of this.#pending.values()) {
        pending.aborted = true;
        pending.done = true;
        pending.controller?.abort(abortReason());
      }
      this.#pending.clear();
      // Views first: nothing may touch kernel memory once it is freed.
      this.#bridge.close();
      this.#kernel.knulClose(this.#handle);
    }
    return this.finished;
  }

  /** Same as {@linkcode KnulServer.close} (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #run(): Promise<void> {
    const kernel = this.#kernel;
    const handle = this.#handle;
    const sink = {
      call: this.#onCall,
      abort: this.#onAbort,
    };
    while (!this.#closed) {
      const polled = kernel.knulPoll(handle);
      if (polled > 0) {
        const inbox = this.#bridge.inboxes[Math.floor(polled / TWO_32)];
        readKnulRecords(inbox.view, inbox.bytes, polled % TWO_32, sink);
      }
      this.#bridge.flush();
      if (this.#closed) break;
      let woke: number;
      try {
        woke = await kernel.knulWait(handle, WAIT_MS);
      } catch (error) {
        // A wait that started only after close() released the handle: nothing to do.
        if (this.#closed) break;
        throw error;
      }
      if (woke === 0) break;
    }
  }

  #onCall = (record: CallRecord): void => {
    const pending: Pending = {
      id: record.id,
      ctx: undefined,
      controller: undefined,
      aborted: false,
      done: false,
    };
    this.#pending.set(record.id, pending);
    const method = this.#methods.get(record.method);
    const json = record.encoding === "" || record.encoding === "json";
    let input: unknown;
    try {
      if (method === undefined) {
        // The kernel only admits registered methods; this is a bug if it happens.
        throw new KnulError(KnulStatus.UNIMPLEMENTED, record.method);
      }
      input = record.flags & FLAG_MESSAGE
        ? this.#message(record, json)
        : this.#stream(pending, json);
    } catch (error) {
      this.#fail(pending, error, json);
      return;
    }
    const ctx = createContext({
      requestId: record.requestId,
      traceId: record.traceId,
      spanId: record.spanId,
      parentSpanId: record.parentSpanId || undefined,
      tenantId: record.tenant || undefined,
      deadline: record.deadline || Infinity,
      signal: () => signalOf(pending),
      name: record.method,
      log: this.#log,
    }).with(KnulCall, {
      method: record.method,
      peer: record.peer,
      priority: record.priority,
      metadata: record.metadata,
      earlyData: (record.flags & FLAG_EARLY_DATA) !== 0,
    });
    pending.ctx = ctx;
    let result: unknown;
    try {
      result = method!.handler(ctx, input);
    } catch (error) {
      this.#fail(pending, error, json);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => this.#succeed(pending, value, json),
        (error) => this.#fail(pending, error, json),
      );
    } else this.#succeed(pending, result, json);
  };

  /** Decodes the single message, straight from the kernel's memory. */
  #message(record: CallRecord, json: boolean): unknown {
    if (record.messageLen === 0) {
      if (json) {
        throw new KnulError(KnulStatus.INVALID_ARGUMENT, "empty JSON message");
      }
      return new Uint8Array(0);
    }
    const buffer = kernelView(record.messageAddr, record.messageLen);
    try {
      return json
        ? parseJson(new Uint8Array(buffer))
        : new Uint8Array(buffer).slice();
    } finally {
      // Decoded (or copied): the view is not needed past this point.
      detach(buffer);
    }
  }

  /** The input stream of a client-streaming call. */
  async *#stream(pending: Pending, json: boolean): AsyncGenerator<unknown> {
    let buffer = new Uint8Array(READ_CHUNK);
    let start = 0;
    let end = 0;
    for (;;) {
      if (pending.aborted || pending.done) throw abortReason();
      if (end === buffer.length) {
        // Make room: drop what was consumed, grow for a large message.
        const rest = buffer.subarray(start, end);
        const next = new Uint8Array(Math.max(READ_CHUNK, rest.length * 2));
        next.set(rest);
        buffer = next;
        end = rest.length;
        start = 0;
      }
      const n = await this.#kernel.knulRead(
        this.#handle,
        pending.id,
        buffer.subarray(end),
      );
      if (n === 0) {
        if (end > start) {
          throw new KnulError(KnulStatus.INVALID_ARGUMENT, "truncated frame");
        }
        return;
      }
      end += n;
      const messages: unknown[] = [];
      start = eachFrame(buffer, start, end, (kind, from, to) => {
        if (kind !== MESSAGE) return;
        const payload = buffer.subarray(from, to);
        messages.push(json ? parseJson(payload) : payload.slice());
      });
      yield* messages;
    }
  }

  #onAbort = (id: number): void => {
    const pending = this.#pending.get(id);
    if (pending !== undefined) {
      pending.aborted = true;
      pending.done = true;
      pending.controller?.abort(abortReason());
      this.#pending.delete(id);
    }
    this.#bridge.write(KIND_RELEASE, id, null);
  };

  #succeed(pending: Pending, value: unknown, json: boolean): void {
    if (pending.done || this.#closed) return;
    if (isAsyncIterable(value)) {
      this.#streamOut(pending, value, json);
      return;
    }
    let frames: Uint8Array<ArrayBuffer>;
    try {
      frames = json
        ? okFrames(JSON.stringify(value ?? null))
        : concat(frame(MESSAGE, asBytes(value)), STATUS_OK);
    } catch (error) {
      this.#fail(pending, error, json);
      return;
    }
    this.#send(pending, frames);
  }

  #fail(pending: Pending, error: unknown, json: boolean): void {
    if (pending.done || this.#closed) return;
    const status = statusOf(error);
    if (status.code === KnulStatus.INTERNAL) {
      (pending.ctx ?? createContext({ log: this.#log })).log.error(
        "KNUL handler failed",
        { error },
      );
    }
    let details: Uint8Array | undefined;
    if (status.details !== undefined && json) {
      try {
        details = encoder.encode(JSON.stringify(status.details));
      } catch {
        details = undefined;
      }
    }
    this.#send(
      pending,
      statusFrame(status.code, status.message, details, status.errorCode),
    );
  }

  #send(pending: Pending, frames: Uint8Array): void {
    pending.done = true;
    this.#pending.delete(pending.id);
    if (frames.length <= INLINE_MAX) {
      this.#bridge.respond(pending.id, frames);
      return;
    }
    this.#bridge.write(KIND_RESPOND_STREAM, pending.id, null);
    this.#bridge.flush();
    const kernel = this.#kernel;
    kernel.knulWrite(
      this.#handle,
      pending.id,
      frames as Uint8Array<ArrayBuffer>,
    )
      .then(() => kernel.knulWrite(this.#handle, pending.id, EMPTY))
      .catch(() => {});
  }

  async #streamOut(
    pending: Pending,
    values: AsyncIterable<unknown>,
    json: boolean,
  ): Promise<void> {
    this.#bridge.write(KIND_RESPOND_STREAM, pending.id, null);
    this.#bridge.flush();
    const write = (bytes: Uint8Array<ArrayBuffer>) =>
      this.#kernel.knulWrite(this.#handle, pending.id, bytes);
    try {
      try {
        for await (const value of values) {
          if (pending.aborted) return;
          await write(
            json ? textFrame(JSON.stringify(value ?? null)) : frame(
              MESSAGE,
              asBytes(value),
            ),
          );
        }
        await write(STATUS_OK);
      } catch (error) {
        if (pending.aborted) return;
        const status = statusOf(error);
        await write(
          statusFrame(status.code, status.message, undefined, status.errorCode),
        );
      }
    } catch {
      // The client went away: nothing left to tell it.
    } finally {
      pending.done = true;
      this.#pending.delete(pending.id);
      await this.#kernel.knulWrite(this.#handle, pending.id, EMPTY).catch(
        () => {},
      );
    }
  }
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch (error) {
    throw new KnulError(
      KnulStatus.INVALID_ARGUMENT,
      "the message is not valid JSON",
      { details: { reason: (error as Error).message } },
    );
  }
}

function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new KnulError(
    KnulStatus.INTERNAL,
    "a handler of a proto-encoded call must return a Uint8Array",
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Starts a KNUL server for `methods` (name → handler, or handler with options). Resolves
 * once it listens. Calls to other names, past deadlines or over the limits are answered by
 * the kernel without running any handler.
 *
 * @example
 * ```ts ignore
 * import { KnulError, KnulStatus, serveKnul } from "@krepis/core/knul";
 * declare const cert: string, key: string;
 * const server = await serveKnul({ cert, key, port: 4433 }, {
 *   "math.add": { handler: (_ctx, { a, b }) => a + b, idempotent: true },
 *   "math.div": (_ctx, { a, b }) => {
 *     if (b === 0) throw new KnulError(KnulStatus.INVALID_ARGUMENT, "division by zero");
 *     return a / b;
 *   },
 * });
 * await server.close();
 * ```
 */
export async function serveKnul(
  options: KnulServeOptions,
  methods: Record<string, KnulHandler | KnulMethod>,
): Promise<KnulServer> {
  if (!options.cert || !options.key) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      "serveKnul needs cert and key (PEM): QUIC always uses TLS",
    );
  }
  const table = new Map<string, KnulMethod>();
  for (const [name, spec] of Object.entries(methods)) {
    const method = typeof spec === "function" ? { handler: spec } : spec;
    if (typeof method?.handler !== "function") {
      throw new KrepisError(
        "INVALID_ARGUMENT",
        `KNUL method "${name}" needs a handler function`,
      );
    }
    table.set(name, method);
  }
  const limits = options.tenantLimits ?? {};
  const message = create(KnulServeOptionsSchema, {
    hostname: options.hostname ?? "127.0.0.1",
    port: count("port", options.port ?? 0, 65535),
    certPem: options.cert,
    keyPem: options.key,
    clientCaPem: options.clientCa ?? "",
    methods: [...table].map(([name, m]) => ({
      name,
      idempotent: m.idempotent ?? false,
      clientStreaming: m.clientStreaming ?? false,
    })),
    maxHeaderBytes: count("maxHeaderBytes", options.maxHeaderBytes, 2 ** 31),
    maxFrameBytes: count("maxFrameBytes", options.maxFrameBytes, 2 ** 31),
    maxInFlight: count("maxInFlight", options.maxInFlight, 2 ** 31),
    sessionStore: options.sessionStore ?? "",
    tenantLimits: {
      maxConcurrent: count("maxConcurrent", limits.maxConcurrent, 2 ** 31),
      ratePerSec: limits.ratePerSec ?? 0,
      burst: limits.burst ?? 0,
    },
  });
  const kernel = await loadKernel();
  const handle = kernel.bindings.knulServe(
    toBinary(KnulServeOptionsSchema, message),
  );
  return new KnulServer(
    kernel.bindings,
    handle,
    table,
    options.log ?? jsonLinesSink("info"),
  );
}
