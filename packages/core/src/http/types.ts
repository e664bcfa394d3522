/**
 * Public types of the HTTP server: options, handler, per-request info and the server.
 *
 * @module
 */

/**
 * The base context of one request, made by the kernel before any TypeScript runs. The
 * framework's `KrepisContext` builds on it.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * await serve((_req, { ctx }) => {
 *   console.log(ctx.requestId, ctx.traceId, ctx.spanId, ctx.deadline);
 *   ctx.signal.addEventListener("abort", () => console.log("client left"));
 *   return new Response("ok");
 * });
 * ```
 */
export interface RequestContext {
  /** Unique id of this request: 16 lower-case hex characters. */
  readonly requestId: string;
  /** W3C trace id (32 hex): the caller's from `traceparent`, else a new one. */
  readonly traceId: string;
  /** This request's span id (16 hex), always new. */
  readonly spanId: string;
  /** The caller's span id from `traceparent`, or `undefined` when the trace starts here. */
  readonly parentSpanId: string | undefined;
  /** When the request's time is up, in ms since the Unix epoch; `Infinity` without a limit. */
  readonly deadline: number;
  /** Fires when the client disconnects or the deadline passes. */
  readonly signal: AbortSignal;
}

/**
 * What a handler learns about a request besides the `Request` itself.
 *
 * @example
 * ```ts
 * import type { ServeHandlerInfo } from "@krepis/core/http";
 * const who = (info: ServeHandlerInfo) => `${info.remoteAddr.hostname} ${info.ctx.requestId}`;
 * ```
 */
export interface ServeHandlerInfo {
  /** The client's address. */
  readonly remoteAddr: Deno.NetAddr;
  /** The request's base context: ids, deadline and abort signal. */
  readonly ctx: RequestContext;
  /**
   * Settles once the request is over on the server's side: its response was handed to the
   * kernel whole (or its streamed body ended), or it was abandoned. It never rejects.
   */
  readonly completed: Promise<void>;
}

/**
 * A request handler, as for `Deno.serve`: a standard `Request` in, a `Response` out.
 *
 * @example
 * ```ts
 * import type { ServeHandler } from "@krepis/core/http";
 * const handler: ServeHandler = (req) => new Response(`you asked for ${req.url}`);
 * ```
 */
export type ServeHandler = (
  request: Request,
  info: ServeHandlerInfo,
) => Response | Promise<Response>;

/**
 * PEM certificate chain and private key; TLS offers HTTP/2 and HTTP/1.1 through ALPN.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * await serve({
 *   port: 8443,
 *   tls: { cert: await Deno.readTextFile("cert.pem"), key: await Deno.readTextFile("key.pem") },
 * }, () => new Response("secure"));
 * ```
 */
export interface TlsOptions {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key (PKCS#8, PKCS#1 or SEC1). */
  key: string;
}

/**
 * Options of {@linkcode serve}; every field is optional.
 *
 * @example
 * ```ts
 * import type { ServeOptions } from "@krepis/core/http";
 * const options: ServeOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxBodySize: 1 << 20,
 *   requestTimeout: 10_000,
 * };
 * ```
 */
export interface ServeOptions {
  /** TCP port; 0 picks a free port. Default 8000. */
  port?: number;
  /** Interface to bind. Default `"0.0.0.0"`. */
  hostname?: string;
  /**
   * Aborting it closes the server at once, as under `Deno.serve`: open connections are
   * cut off, running handlers' signals fire and response bodies are cancelled.
   */
  signal?: AbortSignal;
  /** Called once listening; by default prints `Listening on http://<host>:<port>/`. */
  onListen?: (addr: Deno.NetAddr) => void;
  /**
   * Turns a handler failure into a response. Default: log the error and answer 500 with
   * no error details.
   */
  onError?: (error: unknown) => Response | Promise<Response>;
  /** Serve TLS with this certificate and key. */
  tls?: TlsOptions;
  /**
   * Largest request head in bytes (larger: 431). Default 64 KiB (what `Deno.serve`
   * accepts), at least 8 KiB and at most 64 KiB (the HTTP/1.1 parser's fixed limit).
   * HTTP/1 heads may also carry at most 128 fields (more: 400, as from `Deno.serve`).
   */
  maxHeaderSize?: number;
  /** Largest request body in bytes (larger: 413). Default 64 MiB. */
  maxBodySize?: number;
  /**
   * Budget for a request, body and handler up to the response head, in ms (then 408 while
   * the body arrives, 503 after). Default 300 000 (5 minutes); `0` turns it off.
   */
  requestTimeout?: number;
  /**
   * A connection with no request in flight that moves no byte for this long (ms) is
   * closed: fresh, keep-alive and HTTP/2 connections alike. Default 30 000.
   */
  idleTimeout?: number;
  /**
   * Longest pause (ms) between two chunks of a request body, and the grace period before
   * `minBodyRate` applies; a slower body gets 408. Default 30 000.
   */
  bodyTimeout?: number;
  /**
   * Average bytes per second a request body must keep once `bodyTimeout` has passed;
   * slower gets 408. Default 256; `0` turns the minimum off.
   */
  minBodyRate?: number;
  /**
   * Ceiling (bytes) on memory held for buffered request bodies and unsent response data;
   * past it new requests get 503 until memory drains. Default 256 MiB.
   */
  maxBufferedMemory?: number;
  /**
   * Compress responses with gzip or brotli when the client accepts it and the body is
   * compressible, as `Deno.serve` does. Default `true`.
   */
  automaticCompression?: boolean;
  /** Kernel worker threads for sockets and TLS. Default 1. */
  threads?: number;
  /**
   * Directories the kernel serves by itself, by URL prefix: `{ "/assets": "./public" }`.
   * Requests under a prefix never reach the handler (GET/HEAD only, ETag and
   * Last-Modified with 304, ranges, `.br`/`.gz` siblings by `Accept-Encoding`; paths
   * leaving the directory are refused). A directory answers with `index.html` unless the
   * mount says otherwise.
   */
  static?: Record<string, string | StaticMount>;
  /**
   * Limits of the memory cache the `static` mounts share (see
   * {@linkcode StaticCacheOptions}). Default: 32 MiB in all, files up to 2 MiB, kept once
   * unchanged for 2 s; `{ maxBytes: 0 }` turns it off.
   *
   * @example
   * ```ts ignore
   * import { serve } from "@krepis/core/http";
   * serve({
   *   static: { "/assets": "./public" },
   *   staticCache: { maxBytes: 256 << 20, maxFileBytes: 8 << 20 },
   * }, () => new Response("api"));
   * ```
   */
  staticCache?: StaticCacheOptions;
}

/**
 * Limits of the kernel's memory cache of static files (one per server, shared by its
 * mounts). A file is kept whole once its last change is `settleMs` old, served from memory
 * while its device, inode, size, mtime and ctime stay the same, and dropped oldest first
 * when the cache is full. Invalid values make `serve()` throw a `KrepisError`
 * (`INVALID_ARGUMENT`).
 *
 * @example
 * ```ts ignore
 * import { serve, type StaticCacheOptions } from "@krepis/core/http";
 * const staticCache: StaticCacheOptions = { maxBytes: 64 << 20, settleMs: 500 };
 * serve({ static: { "/assets": "./dist" }, staticCache }, () => new Response("api"));
 * ```
 */
export interface StaticCacheOptions {
  /**
   * Most bytes kept in memory for the server; the oldest files go first. Default 32 MiB;
   * `0` turns the cache off (every request reads the file). At most 1 TiB.
   *
   * @example
   * ```ts ignore
   * import { serve } from "@krepis/core/http";
   * serve({ static: { "/a": "./a" }, staticCache: { maxBytes: 0 } }, () => new Response());
   * ```
   */
  maxBytes?: number;
  /**
   * Largest file kept, in bytes (larger ones are read on every request). Default 2 MiB;
   * at least 1 and at most `maxBytes`.
   *
   * @example
   * ```ts ignore
   * import { serve } from "@krepis/core/http";
   * serve({ static: { "/a": "./a" }, staticCache: { maxFileBytes: 64 << 10 } }, () => new Response());
   * ```
   */
  maxFileBytes?: number;
  /**
   * How long (ms) a file must have stayed unchanged (its ctime) before its bytes are
   * kept: files being written are read afresh each time. Default 2000; between 100 (a
   * change within one file-system timestamp tick of the read must never look like the
   * kept version) and 86 400 000 (a day).
   *
   * @example
   * ```ts ignore
   * import { serve } from "@krepis/core/http";
   * serve({ static: { "/a": "./a" }, staticCache: { settleMs: 500 } }, () => new Response());
   * ```
   */
  settleMs?: number;
}

/**
 * One directory served by the kernel, with its index files.
 *
 * @example
 * ```ts ignore
 * import { serve, type StaticMount } from "@krepis/core/http";
 * const docs: StaticMount = { root: "./site", index: ["index.html", "index.htm"] };
 * await serve({ static: { "/docs": docs } }, () => new Response("api"));
 * ```
 */
export interface StaticMount {
  /** The directory on disk. */
  root: string;
  /** File names tried for a request naming a directory, in order. Default `["index.html"]`; `[]` for none. */
  index?: string[];
  /**
   * Send large files (over 256 KiB) with `sendfile(2)`, straight from the page cache to
   * the socket, on plain HTTP/1.x (TLS and HTTP/2 read them as usual): about a third of
   * the CPU per file. Default `false`. Only for directories whose files change by rename
   * (build outputs, deploys): the bytes in flight are the page cache's, so a file
   * overwritten in place during a download can reach the client with bytes of both
   * versions. Truncating or renaming stays safe (the download is cut short, or finishes
   * with the old version).
   */
  sendfile?: boolean;
}

/**
 * Live counters of a server, from the kernel.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * const server = await serve(() => new Response("ok"));
 * const { requestsTotal, requestsInFlight } = server.stats();
 * ```
 */
export interface ServerStats {
  /** Connections accepted since start. */
  connectionsTotal: number;
  /** Connections open now. */
  connectionsOpen: number;
  /** Requests handed to TypeScript. */
  requestsTotal: number;
  /** Responses completed. */
  responsesTotal: number;
  /** Requests holding kernel resources now. */
  requestsInFlight: number;
  /** Requests the kernel answered alone (413, 408, 503, ...). */
  rejectedTotal: number;
  /** Requests whose client left early. */
  abortedTotal: number;
  /** Requests that ran past `requestTimeout`. */
  timeoutsTotal: number;
  /** Bytes of request bodies lent to TypeScript now. */
  bodyBytesLent: number;
  /** Record batches drained. */
  batchesTotal: number;
  /** Times the bridge parked waiting for work. */
  waitsTotal: number;
  /** Bytes held for buffered request bodies and unsent response data now. */
  bufferedBytes: number;
  /** Connections closed for sitting idle past `idleTimeout`. */
  idleClosedTotal: number;
}

/**
 * A running server, as returned by `serve`.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * await using server = await serve({ port: 0 }, () => new Response("ok"));
 * console.log(server.addr.port);
 * ```
 */
export interface HttpServer extends AsyncDisposable {
  /** Where the server listens. */
  readonly addr: Deno.NetAddr;
  /**
   * Settles once the server has shut down and every handler has ended (after a forced
   * close — a shutdown `timeout` or the `signal` option — handlers still running are not
   * waited for).
   */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, lets in-flight requests finish, then closes. With a `timeout`,
   * whatever is still open then is closed (see {@linkcode ShutdownOptions}).
   */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Live counters from the kernel. */
  stats(): ServerStats;
}

/**
 * Options of {@linkcode HttpServer.shutdown}.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core";
 * const server = serve({ port: 0 }, () => new Response("ok"));
 * // Give in-flight requests 5 s, then close what is left.
 * await server.shutdown({ timeout: 5_000 });
 * ```
 */
export interface ShutdownOptions {
  /**
   * Milliseconds to wait for in-flight requests; then open connections are closed, running
   * handlers' signals fire and response bodies (files, streams) are cancelled. Default:
   * wait as long as it takes.
   */
  timeout?: number;
}
