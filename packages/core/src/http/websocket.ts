/**
 * `upgradeWebSocket(req)`: WebSockets on a `serve()` server, shaped like
 * `Deno.upgradeWebSocket`. The handshake and the framing (pings, fragments, close codes,
 * the 64 MiB message limit, the idle ping) run in the kernel. Events of all of a server's
 * sockets come through one queue, which the server's loop drains with a synchronous poll
 * after each of its turns ({@linkcode pumpWebSockets}); its park ends when events arrive.
 * Under load a message therefore goes kernel → handler → kernel on the JS thread, with no
 * thread hand-off, and thousands of open sockets hold no extra threads.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { KernelBindings } from "@krepis/bindings";
import { KernelRequest } from "./request.ts";

/** What `serve()` knows about a request that asked for a WebSocket. */
interface Offer {
  kernel: KernelBindings;
  handle: number;
  id: number;
  /** Whether the request is over (answered or abandoned). */
  isOver: () => boolean;
}

const offers = new WeakMap<Request, Offer>();
const upgraded = new WeakSet<Request>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const KIND_OPEN = 1;
const KIND_TEXT = 2;
const KIND_BINARY = 3;
const KIND_CLOSE = 4;
const KIND_FAILED = 5;
/** Bytes of an event record's head (see the kernel's `websocket/inbox.rs`). */
const HEAD = 16;
/** The poll buffer's size; a larger message gets a buffer of its own (`wsTake`). */
const POLL_BUFFER = 64 * 1024;
/** Deno's default `idleTimeout`, in seconds. */
const IDLE_TIMEOUT = 30;

const deliver = Symbol("deliver");
/** RFC 6455 §1.3: appended to the client's key before hashing. */
const WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** One server's open sockets; the server's loop feeds them their events. */
class Hub {
  readonly sockets = new Map<number, KernelWebSocket>();
  #kernel: KernelBindings;
  #handle: number;
  #buffer = new Uint8Array(POLL_BUFFER);
  #closed = false;

  constructor(kernel: KernelBindings, handle: number) {
    this.#kernel = kernel;
    this.#handle = handle;
  }

  add(id: number, socket: KernelWebSocket): void {
    this.sockets.set(id, socket);
  }

  /** Delivers every waiting event, in order; returns how many. */
  drain(): number {
    const kernel = this.#kernel;
    let delivered = 0;
    for (;;) {
      const n = kernel.wsPoll(this.#handle, this.#buffer);
      if (n === 0) break;
      if (n > this.#buffer.length) {
        // A message larger than the poll buffer goes straight into a buffer of its own,
        // which the handler then gets as it is (no poll buffer grown, no second copy).
        const payload = new Uint8Array(n - HEAD);
        // 0 cannot happen (only this loop takes events); were it to, stopping here
        // leaves the event for the next turn instead of spinning on it.
        if (kernel.wsTake(this.#handle, this.#buffer, payload) === 0) break;
        const view = new DataView(this.#buffer.buffer);
        this.#dispatch(
          view.getFloat64(0, true),
          view.getUint32(8, true),
          payload,
          true,
        );
        delivered++;
        continue;
      }
      const bytes = this.#buffer;
      const view = new DataView(bytes.buffer);
      for (let at = 0; at < n;) {
        const id = view.getFloat64(at, true);
        const kind = view.getUint32(at + 8, true);
        const len = view.getUint32(at + 12, true);
        const payload = bytes.subarray(at + HEAD, at + HEAD + len);
        at += HEAD + len;
        delivered++;
        this.#dispatch(id, kind, payload, false);
      }
    }
    return delivered;
  }

  #dispatch(
    id: number,
    kind: number,
    payload: Uint8Array<ArrayBuffer>,
    owned: boolean,
  ): void {
    const socket = this.sockets.get(id);
    if (socket === undefined) return;
    if (kind === KIND_CLOSE || kind === KIND_FAILED) {
      this.sockets.delete(id);
    }
    socket[deliver](kind, payload, owned);
  }

  /** The server is closing: deliver what is left; sockets still open then are cut off. */
  close(): void {
    if (this.#closed) return;
    try {
      this.drain();
    } catch {
      // The server is already gone: nothing more to deliver.
    }
    this.#closed = true;
    const left: KernelWebSocket[] = [];
    this.sockets.forEach((socket) => left.push(socket));
    this.sockets.clear();
    const gone = new Uint8Array([0x03, 0xee]); // 1006, no reason
    for (let i = 0; i < left.length; i++) {
      left[i][deliver](KIND_FAILED, gone);
    }
  }
}

const hubs = new Map<number, Hub>();

/**
 * Called by the server for each request the kernel flagged as a WebSocket request.
 *
 * @example
 * ```ts ignore
 * offerWebSocket(request, kernel, handle, id, () => pending.done);
 * ```
 */
export function offerWebSocket(
  request: Request,
  kernel: KernelBindings,
  handle: number,
  id: number,
  isOver: () => boolean,
): void {
  offers.set(request, { kernel, handle, id, isOver });
}

/**
 * Called by the server after each turn (and after its park ended): delivers the events of
 * its sockets that wait in the kernel, in order, and returns how many there were (0 when
 * it has none), so that the loop keeps turning while they come.
 *
 * @example
 * ```ts ignore
 * const events = pumpWebSockets(handle);
 * ```
 */
export function pumpWebSockets(handle: number): number {
  const hub = hubs.get(handle);
  return hub === undefined ? 0 : hub.drain();
}

/**
 * Called by the server as it closes, before the kernel lets go of it: every socket gets
 * its last event (the close the shutdown sent, or an abnormal closure).
 *
 * @example
 * ```ts ignore
 * closeWebSockets(handle);
 * ```
 */
export function closeWebSockets(handle: number): void {
  const hub = hubs.get(handle);
  if (hub === undefined) return;
  hubs.delete(handle);
  hub.close();
}

/**
 * Options of {@linkcode upgradeWebSocket}, as `Deno.upgradeWebSocket`'s.
 *
 * @example
 * ```ts
 * import type { UpgradeWebSocketOptions } from "@krepis/core/http";
 * const options: UpgradeWebSocketOptions = { protocol: "chat", idleTimeout: 60 };
 * ```
 */
export interface UpgradeWebSocketOptions {
  /**
   * The subprotocol to select (sent as `Sec-WebSocket-Protocol`); it must be one the
   * client offered, or `upgradeWebSocket` throws a `TypeError`.
   */
  protocol?: string;
  /**
   * Seconds (default 30, 0: never) after which a socket that received nothing is pinged
   * (at half of it) and then closed with 1001 "No response from ping frame." (at the full
   * time without a message or pong), as Deno does.
   */
  idleTimeout?: number;
}

/**
 * What {@linkcode upgradeWebSocket} returns: the socket, and the response the handler
 * must return to complete the handshake.
 *
 * @example
 * ```ts ignore
 * import { upgradeWebSocket } from "@krepis/core/http";
 * declare const req: Request;
 * const { socket, response }: WebSocketUpgrade = upgradeWebSocket(req);
 * ```
 */
export interface WebSocketUpgrade {
  /** The server side of the connection; it opens once `response` is returned. */
  socket: WebSocket;
  /** The 101 response to return from the handler. */
  response: Response;
}

function hasToken(value: string | null, token: string): boolean {
  return value !== null &&
    value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/**
 * Upgrades a request that `serve()` received to a WebSocket, like
 * `Deno.upgradeWebSocket`: returns the socket and the response the handler must return.
 * The socket is a standard `WebSocket` in shape (`send`, `close`, `readyState`,
 * `binaryType`, `bufferedAmount`, `onopen`/`onmessage`/`onclose`/`onerror` and events).
 * A request `serve()` did not receive (one from `Deno.serve`, say) goes to
 * `Deno.upgradeWebSocket` itself, so the same handler works on both servers.
 *
 * Errors are Deno's: a `TypeError` for missing upgrade headers, a protocol the client
 * did not offer or a request already answered, `Deno.errors.Http` for a request upgraded
 * twice.
 *
 * @example
 * ```ts ignore
 * import { serve, upgradeWebSocket } from "@krepis/core/http";
 * serve({ port: 8000 }, (req) => {
 *   if (req.headers.get("upgrade") !== "websocket") return new Response("hello");
 *   const { socket, response } = upgradeWebSocket(req, { idleTimeout: 60 });
 *   socket.onmessage = (e) => socket.send(`echo: ${e.data}`);
 *   return response;
 * });
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): WebSocketUpgrade {
  const offer = offers.get(request);
  if (offer === undefined && !(request instanceof KernelRequest)) {
    return Deno.upgradeWebSocket(request, options);
  }
  if (upgraded.has(request)) throw new Deno.errors.Http("Already upgraded");
  // Deno's words for a request whose response already went out.
  if (offer?.isOver()) throw new TypeError("Request closed");
  const headers = request.headers;
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    throw new TypeError(
      "Invalid Header: 'upgrade' header must contain 'websocket'",
    );
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    throw new TypeError(
      "Invalid Header: 'connection' header must contain 'Upgrade'",
    );
  }
  if (headers.get("sec-websocket-key") === null) {
    throw new TypeError(
      "Invalid Header: 'sec-websocket-key' header must be set",
    );
  }
  // Deno's negotiation, to the letter: the offered list is split on ", ".
  const protocol = options.protocol;
  if (protocol) {
    const offered = (headers.get("sec-websocket-protocol") || "").split(", ");
    if (!offered.includes(protocol)) {
      throw new TypeError(
        `Protocol '${protocol}' not in the request's protocol list (non negotiable)`,
      );
    }
  }
  const idleTimeout = options.idleTimeout ?? IDLE_TIMEOUT;
  if (
    typeof idleTimeout !== "number" || !(idleTimeout >= 0) ||
    idleTimeout * 1000 > 2 ** 31 - 1
  ) {
    throw new RangeError(
      `idleTimeout must be between 0 and ${
        Math.floor((2 ** 31 - 1) / 1000)
      } seconds, got ${idleTimeout}`,
    );
  }
  if (offer === undefined) {
    throw new TypeError(
      "upgradeWebSocket needs a GET request received over HTTP/1.1",
    );
  }
  try {
    offer.kernel.wsAccept(
      offer.handle,
      offer.id,
      Math.round(idleTimeout * 1000),
    );
  } catch {
    // The kernel already let go of the request (its client left, its deadline passed,
    // the server closed) and TypeScript has not heard yet: it is over all the same.
    throw new TypeError("Request closed");
  }
  upgraded.add(request);
  offers.delete(request);
  // The handshake headers Deno's response carries (the kernel sets the same on the wire).
  const key = headers.get("sec-websocket-key") ?? "";
  const responseHeaders: [string, string][] = [
    ["upgrade", "websocket"],
    ["connection", "Upgrade"],
    [
      "sec-websocket-accept",
      createHash("sha1").update(key + WEBSOCKET_GUID).digest("base64"),
    ],
  ];
  if (protocol) responseHeaders.push(["sec-websocket-protocol", protocol]);
  const response = new Response(null, { headers: responseHeaders });
  // A `Response` cannot be constructed with 101; the kernel completes the handshake.
  Object.defineProperty(response, "status", { value: 101 });
  const socket = new KernelWebSocket(offer);
  let hub = hubs.get(offer.handle);
  if (hub === undefined) {
    hub = new Hub(offer.kernel, offer.handle);
    hubs.set(offer.handle, hub);
  }
  hub.add(offer.id, socket);
  return { socket: socket as unknown as WebSocket, response };
}

/** The server side of a WebSocket; see {@linkcode upgradeWebSocket}. */
class KernelWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  // Deno's server-side sockets have an empty `url`, `protocol` and `extensions`.
  readonly url = "";
  readonly protocol = "";
  readonly extensions = "";
  // Deno's server-side sockets default to "arraybuffer" too.
  binaryType: BinaryType = "arraybuffer";
  #offer: Offer;
  #state = 0;
  #closeAfterOpen: [number | undefined, string | undefined] | undefined;
  #handlers = new Map<string, EventListener | null>();

  constructor(offer: Offer) {
    super();
    this.#offer = offer;
  }

  get readyState(): number {
    return this.#state;
  }

  get bufferedAmount(): number {
    if (this.#state === 3) return 0;
    try {
      return this.#offer.kernel.wsBuffered(this.#offer.handle, this.#offer.id);
    } catch {
      return 0;
    }
  }

  get onopen(): EventListener | null {
    return this.#handlers.get("open") ?? null;
  }
  set onopen(f: EventListener | null) {
    this.#setHandler("open", f);
  }
  get onmessage(): EventListener | null {
    return this.#handlers.get("message") ?? null;
  }
  set onmessage(f: EventListener | null) {
    this.#setHandler("message", f);
  }
  get onclose(): EventListener | null {
    return this.#handlers.get("close") ?? null;
  }
  set onclose(f: EventListener | null) {
    this.#setHandler("close", f);
  }
  get onerror(): EventListener | null {
    return this.#handlers.get("error") ?? null;
  }
  set onerror(f: EventListener | null) {
    this.#setHandler("error", f);
  }

  #setHandler(type: string, f: EventListener | null): void {
    const old = this.#handlers.get(type);
    if (old) this.removeEventListener(type, old);
    this.#handlers.set(type, typeof f === "function" ? f : null);
    if (typeof f === "function") this.addEventListener(type, f);
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#state === 0) {
      throw new DOMException("readyState not OPEN", "InvalidStateError");
    }
    if (this.#state !== 1) return;
    if (typeof data === "string") {
      this.#send(0, encoder.encode(data));
    } else if (data instanceof Blob) {
      data.bytes().then((bytes) => {
        if (this.#state === 1) this.#send(1, bytes);
      });
    } else if (ArrayBuffer.isView(data)) {
      this.#send(
        1,
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    } else if (
      data instanceof ArrayBuffer ||
      (typeof SharedArrayBuffer === "function" &&
        data instanceof SharedArrayBuffer)
    ) {
      this.#send(1, new Uint8Array(data));
    } else {
      // Anything else is sent as its string, as by Deno's (WebIDL) conversion.
      this.#send(0, encoder.encode(String(data)));
    }
  }

  /** Queues a message (the kernel copies it before this returns). */
  #send(binary: number, bytes: Uint8Array): void {
    const { kernel, handle, id } = this.#offer;
    try {
      kernel.wsSend(handle, id, binary, bytes as Uint8Array<ArrayBuffer>);
    } catch {
      // The connection ended and its close event is on its way: like a browser's
      // send() on a socket that just closed, nothing happens.
    }
  }

  close(code?: number, reason?: string): void {
    if (
      code !== undefined && code !== 1000 && !(code >= 3000 && code <= 4999)
    ) {
      throw new DOMException(
        "The close code must be either 1000 or in the range of 3000 to 4999.",
        "InvalidAccessError",
      );
    }
    const bytes = encoder.encode(reason ?? "");
    if (bytes.length > 123) {
      throw new DOMException(
        "The close reason may not be longer than 123 bytes.",
        "SyntaxError",
      );
    }
    if (this.#state === 0) {
      this.#closeAfterOpen = [code, reason];
      this.#state = 2;
      return;
    }
    if (this.#state !== 1) return;
    this.#state = 2;
    const { kernel, handle, id } = this.#offer;
    try {
      kernel.wsClose(handle, id, code ?? 1005, bytes);
    } catch {
      // The connection already ended; its close event is on its way.
    }
  }

  /**
   * An event from the kernel (see `Hub.drain`); `payload` is only valid during the call
   * unless `owned` (a buffer of its own, which a binary message then hands over as it is).
   */
  [deliver](
    kind: number,
    payload: Uint8Array<ArrayBuffer>,
    owned = false,
  ): void {
    if (kind === KIND_OPEN) {
      const pending = this.#closeAfterOpen;
      this.#state = 1;
      if (pending) this.close(...pending);
      else this.dispatchEvent(new Event("open"));
    } else if (kind === KIND_TEXT) {
      this.#message(decoder.decode(payload));
    } else if (kind === KIND_BINARY) {
      const data = owned ? payload : payload.slice();
      this.#message(
        this.binaryType === "arraybuffer" ? data.buffer : new Blob([data]),
      );
    } else {
      // 4: closed by a handshake (or the server's shutdown); 5: failed (broken off, never
      // opened, a message too big, a ping unanswered).
      const code = (payload[0] << 8) | payload[1];
      const reason = decoder.decode(payload.subarray(2));
      const clean = kind === KIND_CLOSE;
      this.#state = 3;
      if (!clean) {
        this.dispatchEvent(
          new ErrorEvent("error", { message: reason || "closed abnormally" }),
        );
      }
      this.dispatchEvent(
        new CloseEvent("close", { code, reason, wasClean: clean }),
      );
    }
  }

  #message(data: unknown): void {
    if (this.#state !== 1 && this.#state !== 2) return;
    this.dispatchEvent(
      new MessageEvent("message", { data }),
    );
  }
}

// `socket instanceof WebSocket` holds, as for Deno's sockets; every member a WebSocket has
// is defined on KernelWebSocket itself, so nothing of WebSocket's own implementation runs.
Object.setPrototypeOf(KernelWebSocket.prototype, WebSocket.prototype);
