/**
 * `upgradeWebSocket(req)`: WebSockets on a `serve()` server, shaped like
 * `Deno.upgradeWebSocket`. The handshake and the framing (pings, fragments, close codes,
 * the 64 MiB message limit) run in the kernel; messages cross to TypeScript one at a time.
 *
 * @module
 */

import type { KernelBindings } from "@krepis/bindings";

/** What `serve()` knows about a request that asked for a WebSocket. */
interface Offer {
  kernel: KernelBindings;
  handle: number;
  id: number;
  /** Told when the socket's close event has been dispatched (the server waits for it). */
  closed: (done: Promise<void>) => void;
}

const offers = new WeakMap<Request, Offer>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const KIND_OPEN = 1;
const KIND_TEXT = 2;
const KIND_BINARY = 3;
const KIND_CLOSE = 4;

/**
 * Called by the server for each request the kernel flagged as a WebSocket request.
 *
 * @example
 * ```ts ignore
 * offerWebSocket(request, kernel, handle, id, (done) => done.then(() => {}));
 * ```
 */
export function offerWebSocket(
  request: Request,
  kernel: KernelBindings,
  handle: number,
  id: number,
  closed: (done: Promise<void>) => void,
): void {
  offers.set(request, { kernel, handle, id, closed });
}

/**
 * Options of {@linkcode upgradeWebSocket}.
 *
 * @example
 * ```ts
 * import type { UpgradeWebSocketOptions } from "@krepis/core/http";
 * const options: UpgradeWebSocketOptions = { protocol: "chat" };
 * ```
 */
export interface UpgradeWebSocketOptions {
  /** The subprotocol to select (sent as `Sec-WebSocket-Protocol`). */
  protocol?: string;
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
 *
 * @example
 * ```ts ignore
 * import { serve, upgradeWebSocket } from "@krepis/core/http";
 * await serve({ port: 8000 }, (req) => {
 *   if (req.headers.get("upgrade") !== "websocket") return new Response("hello");
 *   const { socket, response } = upgradeWebSocket(req);
 *   socket.onmessage = (e) => socket.send(`echo: ${e.data}`);
 *   return response;
 * });
 * ```
 */
export function upgradeWebSocket(
  request: Request,
  options: UpgradeWebSocketOptions = {},
): WebSocketUpgrade {
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
  if (!headers.get("sec-websocket-key")) {
    throw new TypeError(
      "Invalid Header: 'sec-websocket-key' header must be set",
    );
  }
  const offer = offers.get(request);
  if (offer === undefined) {
    throw new TypeError(
      "upgradeWebSocket needs a request received by serve() over HTTP/1.1",
    );
  }
  offers.delete(request);
  offer.kernel.wsAccept(offer.handle, offer.id);
  const protocol = options.protocol ?? "";
  const response = new Response(
    null,
    protocol ? { headers: { "sec-websocket-protocol": protocol } } : {},
  );
  // A `Response` cannot be constructed with 101; the kernel completes the handshake.
  Object.defineProperty(response, "status", { value: 101 });
  // Deno's server-side sockets have an empty `url` as well.
  const socket = new KernelWebSocket(offer, "", protocol);
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
  readonly url: string;
  readonly protocol: string;
  readonly extensions = "";
  // Deno's server-side sockets default to "arraybuffer" too.
  binaryType: BinaryType = "arraybuffer";
  #offer: Offer;
  #state = 0;
  #closeAfterOpen: [number | undefined, string | undefined] | undefined;
  #handlers = new Map<string, EventListener | null>();

  constructor(offer: Offer, url: string, protocol: string) {
    super();
    this.#offer = offer;
    this.url = url;
    this.protocol = protocol;
    offer.closed(this.#receive());
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
    const { kernel, handle, id } = this.#offer;
    if (typeof data === "string") {
      kernel.wsSend(handle, id, 0, encoder.encode(data));
    } else if (data instanceof Blob) {
      data.bytes().then((bytes) => {
        if (this.#state === 1) kernel.wsSend(handle, id, 1, bytes);
      });
    } else if (ArrayBuffer.isView(data)) {
      const view = new Uint8Array(
        data.buffer,
        data.byteOffset,
        data.byteLength,
      );
      kernel.wsSend(handle, id, 1, view.slice());
    } else {
      kernel.wsSend(handle, id, 1, new Uint8Array(data as ArrayBuffer).slice());
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
    kernel.wsClose(handle, id, code ?? 1005, bytes);
  }

  async #receive(): Promise<void> {
    const { kernel, handle, id } = this.#offer;
    let code = 1006;
    let reason = "";
    let clean = false;
    try {
      for (;;) {
        const next = await kernel.wsNext(handle, id);
        const kind = next % 8;
        const payload = new Uint8Array(Math.floor(next / 8));
        kernel.wsTake(handle, id, payload);
        if (kind === KIND_OPEN) {
          const pending = this.#closeAfterOpen;
          this.#state = 1;
          if (pending) {
            this.close(...pending);
          } else this.dispatchEvent(new Event("open"));
        } else if (kind === KIND_TEXT) {
          this.#message(decoder.decode(payload));
        } else if (kind === KIND_BINARY) {
          this.#message(
            this.binaryType === "arraybuffer"
              ? payload.buffer
              : new Blob([payload]),
          );
        } else {
          // 4: closed by a handshake; 5: failed (broken off, or a message too big).
          code = (payload[0] << 8) | payload[1];
          reason = decoder.decode(payload.subarray(2));
          clean = kind === KIND_CLOSE;
          break;
        }
      }
    } catch {
      // The server stopped or the socket was never opened: an abnormal closure.
    }
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
