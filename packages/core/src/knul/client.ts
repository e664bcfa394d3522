/**
 * The KNUL client on the TypeScript side. A call is started with one synchronous kernel
 * call; the kernel runs it on its own runtime and hands the whole response back as a
 * completion record, so one wake-up completes every call that finished meanwhile.
 *
 * The caller's context travels with each call: same trace with a child span, the remaining
 * deadline as the call's budget, the tenant, and the priority.
 *
 * @module
 */

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type KernelBindings,
  KnulConnectInfoSchema,
  KnulConnectOptionsSchema,
  KnulHeaderSchema,
} from "@krepis/bindings";
import type { KrepisContext } from "../context/context.ts";
import { newSpanId } from "../context/trace.ts";
import { formatTraceparent } from "../context/trace.ts";
import type { AnyHandler, OutputOf, RawInputOf } from "../cqs/handler.ts";
import { KrepisError } from "../errors.ts";
import { KIND_RELEASE } from "../http/records.ts";
import { readVariable } from "../native/library.ts";
import { loadKernel } from "../native/loader.ts";
import { BridgeView, detach, kernelView } from "./bridge_view.ts";
import { KnulCall } from "./call_info.ts";
import {
  type DecodedStatus,
  decodeStatus,
  eachFrame,
  frame,
  MESSAGE,
  STATUS,
  textFrame,
} from "./frames.ts";
import { readKnulRecords } from "./records.ts";
import { KnulError, KnulStatus } from "./status.ts";

const TWO_32 = 2 ** 32;
const WAIT_MS = 1_000;
const utf8 = new TextDecoder();

/**
 * Where and how to connect.
 *
 * @example
 * ```ts
 * import type { KnulConnectOptions } from "@krepis/core/knul";
 * const ca = "-----BEGIN CERTIFICATE-----\n…"; // the PEM that signed the server's certificate
 * const options: KnulConnectOptions = { hostname: "127.0.0.1", port: 4433, caCerts: [ca], serverName: "localhost" };
 * console.assert(options.port === 4433);
 * ```
 */
export interface KnulConnectOptions {
  /** Server host name or IP. */
  hostname: string;
  /** Server UDP port. */
  port: number;
  /** Name checked against the server certificate (default `hostname`). */
  serverName?: string;
  /** PEM CA certificates trusted for the server. */
  caCerts: string[];
  /** PEM client certificate chain, for servers requiring mutual TLS. */
  cert?: string;
  /** PEM client private key. */
  key?: string;
}

/**
 * Per-call options.
 *
 * @example
 * ```ts
 * import type { KnulCallOptions } from "@krepis/core/knul";
 * const options: KnulCallOptions = { idempotent: true, priority: 5, metadata: { k: "v" } };
 * console.assert(options.priority === 5);
 * ```
 */
export interface KnulCallOptions {
  /** Safe to replay; may travel in 0-RTT early data (default false). */
  idempotent?: boolean;
  /** Priority (default: the incoming KNUL call's, else 0). */
  priority?: number;
  /** Metadata for the handler. */
  metadata?: Record<string, string>;
  /** `"json"` (default; inputs and outputs are JSON values) or `"proto"` (`Uint8Array`s). */
  encoding?: "json" | "proto";
}

/**
 * What quinn reported about the client's latest connection.
 *
 * @example
 * ```ts
 * import type { KnulConnectInfo } from "@krepis/core/knul";
 * const info: KnulConnectInfo = { zeroRttAttempted: true, zeroRttAccepted: true };
 * console.assert(info.zeroRttAccepted);
 * ```
 */
export interface KnulConnectInfo {
  /** A session ticket was available, so the connection tried 0-RTT. */
  zeroRttAttempted: boolean;
  /** The server accepted the 0-RTT data. */
  zeroRttAccepted: boolean;
}

/**
 * A client typed by a map of method names to the app's commands and queries (types only,
 * no code generation): `call` checks the input and returns the handler's output type.
 *
 * @example
 * ```ts ignore
 * import type { TypedKnulClient } from "@krepis/core/knul";
 * import type { addTodo, getTodo } from "./todos.ts";
 * declare const api: TypedKnulClient<{ "todos.get": typeof getTodo; "todos.add": typeof addTodo }>;
 * ```
 */
export interface TypedKnulClient<M extends Record<string, AnyHandler>> {
  /** Calls `method` with an input of its handler's input type. */
  call<K extends keyof M & string>(
    ctx: KrepisContext,
    method: K,
    input: RawInputOf<M[K]>,
    options?: KnulCallOptions,
  ): Promise<OutputOf<M[K]>>;
}

/** How a streamed call hands over its messages, and (open input) learns its id. */
interface Streamed {
  onMessages(messages: unknown[]): void;
  /** Set for calls whose input stays open: more frames follow through `send`. */
  onStart?(id: number): void;
}

interface Waiting {
  resolve(response: { messages: unknown[]; status: DecodedStatus }): void;
  reject(error: unknown): void;
  json: boolean;
  /** Streamed calls: messages that arrived before the status. */
  onMessages: ((messages: unknown[]) => void) | undefined;
}

/**
 * A client of one KNUL server; made by {@linkcode connectKnul}.
 *
 * @example
 * ```ts ignore
 * import { connectKnul } from "@krepis/core/knul";
 * import { createContext } from "@krepis/core";
 * declare const ca: string;
 * await using client = await connectKnul({ hostname: "127.0.0.1", port: 4433, caCerts: [ca], serverName: "localhost" });
 * const sum = await client.call(createContext(), "math.add", { a: 1, b: 2 });
 * ```
 */
export class KnulClient implements AsyncDisposable {
  #kernel: KernelBindings;
  #handle: number;
  #bridge: BridgeView;
  #waiting = new Map<number, Waiting>();
  #nextId = 0;
  #loop: Promise<void> | undefined;
  /** True while a completion loop runs (it may finish synchronously, so not `#loop`). */
  #running = false;
  #closed = false;

  /** Use {@linkcode connectKnul}. */
  constructor(kernel: KernelBindings, handle: number) {
    this.#kernel = kernel;
    this.#handle = handle;
    this.#bridge = new BridgeView(
      readVariable((buf) => kernel.knulClientLayout(handle, buf)),
      (len) => kernel.knulClientRelease(handle, len),
    );
  }

  /**
   * Calls `method` with `input` and resolves with its output; rejects with a
   * {@linkcode KnulError} carrying the status otherwise.
   */
  async call<O = unknown>(
    ctx: KrepisContext,
    method: string,
    input: unknown,
    options: KnulCallOptions = {},
  ): Promise<O> {
    const { messages } = await this.#invoke(ctx, method, [input], options);
    if (messages.length !== 1) {
      throw new KnulError(
        KnulStatus.INTERNAL,
        `expected one message, got ${messages.length}`,
      );
    }
    return messages[0] as O;
  }

  /**
   * Calls a server-streaming method: yields each message as it arrives; throws a
   * {@linkcode KnulError} when the call ends with another status than `OK`. Leaving the
   * loop early cancels the call.
   */
  stream<O = unknown>(
    ctx: KrepisContext,
    method: string,
    input: unknown,
    options: KnulCallOptions = {},
  ): AsyncGenerator<O, void, undefined> {
    return this.#streamed<O>(ctx, method, [input], options, undefined);
  }

  /**
   * Calls a bidirectional (or client-streaming) method: sends each of `inputs` as it comes
   * and yields each response message as it arrives. Leaving the loop early cancels the call.
   */
  bidi<O = unknown>(
    ctx: KrepisContext,
    method: string,
    inputs: AsyncIterable<unknown> | Iterable<unknown>,
    options: KnulCallOptions = {},
  ): AsyncGenerator<O, void, undefined> {
    const encoding = options.encoding ?? "json";
    const pump = async (id: number) => {
      try {
        for await (const input of inputs) {
          const bytes = encoding === "json"
            ? textFrame(JSON.stringify(input ?? null))
            : frame(MESSAGE, input as Uint8Array);
          await this.#kernel.knulSend(this.#handle, id, bytes);
        }
        await this.#kernel.knulSend(this.#handle, id, new Uint8Array(0));
      } catch {
        // The call ended (answered, cancelled or failed): its outcome says why.
      }
    };
    return this.#streamed<O>(ctx, method, [], options, (id) => void pump(id));
  }

  async *#streamed<O>(
    ctx: KrepisContext,
    method: string,
    inputs: unknown[],
    options: KnulCallOptions,
    onStart: ((id: number) => void) | undefined,
  ): AsyncGenerator<O, void, undefined> {
    const queue: unknown[] = [];
    let done = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    const stop = new AbortController();
    const signal = AbortSignal.any([ctx.signal, stop.signal]);
    const onMessages = (messages: unknown[]) => {
      queue.push(...messages);
      notify();
    };
    this.#invoke(ctx.derive({ signal }), method, inputs, options, {
      onMessages,
      onStart,
    }).then(
      (r) => {
        queue.push(...r.messages);
        done = true;
        notify();
      },
      (e) => {
        failure = e;
        done = true;
        notify();
      },
    );
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as O;
        if (done) {
          if (failure !== undefined) throw failure;
          return;
        }
        await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      if (!done) stop.abort();
    }
  }

  /** Calls a client-streaming (or bidirectional) method with several input messages. */
  async send<O = unknown>(
    ctx: KrepisContext,
    method: string,
    inputs: Iterable<unknown>,
    options: KnulCallOptions = {},
  ): Promise<O[]> {
    return (await this.#invoke(ctx, method, [...inputs], options))
      .messages as O[];
  }

  /** This client with `call` typed by `M` (method name → command or query). */
  typed<M extends Record<string, AnyHandler>>(): TypedKnulClient<M> {
    return this as unknown as TypedKnulClient<M>;
  }

  /** Connects now (rather than on the first call) and reports how. */
  async connect(): Promise<KnulConnectInfo> {
    const out = new Uint8Array(64);
    const len = await this.#kernel.knulConnect(this.#handle, out);
    return infoOf(out.subarray(0, len));
  }

  /** What quinn reported about the latest connection (0-RTT attempted and accepted). */
  connectInfo(): KnulConnectInfo {
    return infoOf(
      readVariable((buf) => this.#kernel.knulConnectInfo(this.#handle, buf)),
    );
  }

  /** Closes the connection; the next call reconnects, resuming the TLS session (0-RTT). */
  async disconnect(): Promise<void> {
    await this.#kernel.knulDisconnect(this.#handle);
  }

  /** Calls in progress in the kernel. */
  running(): number {
    return this.#kernel.knulClientRunning(this.#handle);
  }

  /** Cancels every open call and releases the client. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, w] of this.#waiting) {
      this.#kernel.knulCancel(this.#handle, id);
      w.reject(new KnulError(KnulStatus.CANCELLED, "the client was closed"));
    }
    this.#waiting.clear();
    this.#bridge.close();
    this.#kernel.knulClientClose(this.#handle);
    await this.#loop;
  }

  /** Same as {@linkcode KnulClient.close} (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #invoke(
    ctx: KrepisContext,
    method: string,
    inputs: unknown[],
    options: KnulCallOptions,
    streamed?: Streamed,
  ): Promise<{ messages: unknown[]; status: DecodedStatus }> {
    const onMessages = streamed?.onMessages;
    if (this.#closed) {
      return Promise.reject(
        new KnulError(KnulStatus.UNAVAILABLE, "the client is closed"),
      );
    }
    const json = (options.encoding ?? "json") === "json";
    let budget = 0;
    if (Number.isFinite(ctx.deadline)) {
      budget = Math.ceil(ctx.deadline - Date.now());
      if (budget <= 0) {
        return Promise.reject(
          new KnulError(
            KnulStatus.DEADLINE_EXCEEDED,
            "the deadline passed before the call started",
          ),
        );
      }
    }
    const signal = ctx.signal;
    if (signal.aborted) {
      return Promise.reject(
        new KnulError(KnulStatus.CANCELLED, "the context was cancelled"),
      );
    }
    let frames: Uint8Array<ArrayBuffer>;
    try {
      frames = concatAll(
        inputs.map((input) =>
          json ? textFrame(JSON.stringify(input ?? null)) : frame(
            MESSAGE,
            input as Uint8Array,
          )
        ),
      );
    } catch (error) {
      return Promise.reject(
        new KnulError(
          KnulStatus.INVALID_ARGUMENT,
          "the input cannot be encoded",
          {
            cause: error,
          },
        ),
      );
    }
    const header = toBinary(
      KnulHeaderSchema,
      create(KnulHeaderSchema, {
        method,
        // The call is a child span of the caller's: same trace, new span.
        traceparent: formatTraceparent(ctx.traceId, newSpanId()),
        tenant: ctx.tenantId ?? "",
        priority: options.priority ?? ctx.get(KnulCall)?.priority ?? 0,
        timeoutMs: BigInt(budget),
        idempotent: options.idempotent ?? false,
        metadata: options.metadata ?? {},
        encoding: json ? "" : "proto",
        requestId: ctx.requestId,
      }),
    );
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (this.#waiting.delete(id)) {
          this.#kernel.knulCancel(this.#handle, id);
          reject(
            new KnulError(KnulStatus.CANCELLED, "the context was cancelled"),
          );
        }
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.set(id, {
        resolve: (r) => {
          signal.removeEventListener("abort", onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal.removeEventListener("abort", onAbort);
          reject(e);
        },
        json,
        onMessages,
      });
      this.#kernel.knulCall(
        this.#handle,
        id,
        header,
        frames,
        (options.idempotent ? 1 : 0) | (onMessages ? 2 : 0) |
          (streamed?.onStart ? 4 : 0),
        budget,
      );
      streamed?.onStart?.(id);
      this.#kick();
    });
  }

  /** Starts the completion loop unless it runs. */
  #kick(): void {
    if (this.#running || this.#closed) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const kernel = this.#kernel;
    const handle = this.#handle;
    const sink = {
      done: this.#onDone,
      abort: () => {},
    };
    try {
      while (!this.#closed && this.#waiting.size > 0) {
        const polled = kernel.knulClientPoll(handle);
        if (polled > 0) {
          const inbox = this.#bridge.inboxes[Math.floor(polled / TWO_32)];
          readKnulRecords(inbox.view, inbox.bytes, polled % TWO_32, sink);
          this.#bridge.flush();
          continue;
        }
        let woke: number;
        try {
          woke = await kernel.knulClientWait(handle, WAIT_MS);
        } catch (error) {
          // A wait that started only after close() released the handle: nothing to do.
          if (this.#closed) break;
          throw error;
        }
        if (woke === 0) break;
      }
    } finally {
      this.#running = false;
      // A call started while the loop was finishing needs a loop of its own.
      if (this.#waiting.size > 0) queueMicrotask(() => this.#kick());
    }
  }

  #onDone = (
    slot: number,
    callId: number,
    addr: number,
    len: number,
    more: boolean,
  ): void => {
    const waiting = this.#waiting.get(callId);
    const messages: unknown[] = [];
    let status: DecodedStatus | undefined;
    let error: unknown;
    if (waiting !== undefined && len > 0) {
      const buffer = kernelView(addr, len);
      const bytes = new Uint8Array(buffer);
      try {
        const end = eachFrame(bytes, 0, len, (kind, from, to) => {
          const payload = bytes.subarray(from, to);
          if (kind === MESSAGE) {
            messages.push(
              waiting.json ? JSON.parse(utf8.decode(payload)) : payload.slice(),
            );
          } else if (kind === STATUS) status = decodeStatus(payload);
        });
        if (end !== len) status = undefined;
      } catch (e) {
        error = e;
      } finally {
        detach(buffer);
      }
    }
    this.#bridge.write(KIND_RELEASE, slot, null);
    if (waiting === undefined) return;
    if (more && error === undefined) {
      waiting.onMessages?.(messages);
      return;
    }
    this.#waiting.delete(callId);
    if (error !== undefined) {
      waiting.reject(
        new KnulError(KnulStatus.INTERNAL, "the response is malformed", {
          cause: error,
        }),
      );
    } else if (status === undefined) {
      waiting.reject(
        new KnulError(
          KnulStatus.UNAVAILABLE,
          "the response ended without a status",
        ),
      );
    } else if (status.code !== KnulStatus.OK) {
      waiting.reject(errorOf(status, waiting.json));
    } else waiting.resolve({ messages, status });
  };
}

function errorOf(status: DecodedStatus, json: boolean): KnulError {
  let details: unknown = undefined;
  if (status.details.length > 0) {
    try {
      details = json ? JSON.parse(utf8.decode(status.details)) : status.details;
    } catch {
      details = status.details;
    }
  }
  return new KnulError(status.code, status.message, {
    details,
    errorCode: status.errorCode || undefined,
  });
}

function infoOf(bytes: Uint8Array): KnulConnectInfo {
  const info = fromBinary(KnulConnectInfoSchema, bytes);
  return {
    zeroRttAttempted: info.zeroRttAttempted,
    zeroRttAccepted: info.zeroRttAccepted,
  };
}

function concatAll(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (parts.length === 1) return parts[0] as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Creates a client of the KNUL server at `hostname:port` (it connects on the first call, or
 * on `connect()`).
 *
 * @example
 * ```ts ignore
 * import { connectKnul } from "@krepis/core/knul";
 * declare const ca: string;
 * const client = await connectKnul({ hostname: "127.0.0.1", port: 4433, caCerts: [ca], serverName: "localhost" });
 * await client.close();
 * ```
 */
export async function connectKnul(
  options: KnulConnectOptions,
): Promise<KnulClient> {
  if (!options.caCerts?.length) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      "connectKnul needs caCerts: the CA certificates trusted for the server",
    );
  }
  const message = create(KnulConnectOptionsSchema, {
    hostname: options.hostname,
    port: options.port,
    serverName: options.serverName ?? "",
    caPem: options.caCerts.join("\n"),
    certPem: options.cert ?? "",
    keyPem: options.key ?? "",
  });
  const kernel = await loadKernel();
  const handle = kernel.bindings.knulClient(
    toBinary(KnulConnectOptionsSchema, message),
  );
  return new KnulClient(kernel.bindings, handle);
}
