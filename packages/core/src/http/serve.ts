/**
 * `serve()`: HTTP/1.1 and HTTP/2 from the Rust kernel with TypeScript handlers, shaped
 * like `Deno.serve`.
 *
 * @module
 */

import { BridgeLayoutSchema, ServeOptionsSchema } from "@krepis/bindings";
import { KrepisError } from "../errors.ts";
import { type LoadedKernel, loadKernelSync } from "../native/loader.ts";
import { Codec } from "./control.ts";
import { KernelServer } from "./server.ts";
import type { AnswerHandler } from "./response.ts";
import type { HttpServer, ServeHandler, ServeOptions } from "./types.ts";

/** Room for the `BridgeLayout` the kernel writes when it starts a server. */
const LAYOUT_CAPACITY = 256;
const OPTIONS = new Codec(ServeOptionsSchema);
const LAYOUT = new Codec(BridgeLayoutSchema);

function count(
  name: string,
  value: number | undefined,
  max: number,
  min = 0,
): number {
  if (value === undefined) return 0;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      `${name} must be an integer between ${min} and ${max}, got ${value}`,
    );
  }
  return value;
}

/** The static cache's limits as the kernel reads them (0: default; maxBytes 0: off). */
function staticCache(options: ServeOptions["staticCache"]) {
  const { maxBytes, maxFileBytes, settleMs } = options ?? {};
  return {
    staticCacheMaxBytes: orNone(
      count("staticCache.maxBytes", maxBytes, 2 ** 40),
      maxBytes,
    ),
    staticCacheMaxFileBytes: BigInt(
      count("staticCache.maxFileBytes", maxFileBytes, 2 ** 40, 1),
    ),
    staticCacheSettleMs: BigInt(
      count("staticCache.settleMs", settleMs, 86_400_000, 100),
    ),
  };
}

/** The port, refused with the errors `Deno.serve` throws. */
function port(value: number | undefined): number {
  if (value === undefined) return 8000;
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`Invalid port: ${value}`);
  }
  if (value < 0 || value > 65535) {
    throw new RangeError(`Invalid port (out of range): ${value}`);
  }
  return value;
}

function staticMounts(
  mounts: ServeOptions["static"],
): { prefix: string; root: string; index: string[]; sendfile: boolean }[] {
  // Index loops, no array destructuring: user code may have replaced the array iterator.
  const prefixes = Object.keys(mounts ?? {});
  const out = [];
  for (let i = 0; i < prefixes.length; i++) {
    const prefix = prefixes[i];
    const mount = mounts![prefix];
    const { root, index = ["index.html"], sendfile = false } =
      typeof mount === "string" ? { root: mount } : mount;
    if (
      typeof root !== "string" || !Array.isArray(index) ||
      typeof sendfile !== "boolean"
    ) {
      throw new KrepisError(
        "INVALID_ARGUMENT",
        `static mount "${prefix}" needs a root directory, an index list and a boolean sendfile`,
      );
    }
    out.push({ prefix, root, index, sendfile });
  }
  return out;
}

/** The kernel reads 0 as "default"; an explicit 0 option means "none" (u64 max). */
function orNone(value: number, given: number | undefined): bigint {
  return given === 0 ? 2n ** 64n - 1n : BigInt(value);
}

function defaultOnError(error: unknown): Response {
  console.error("Handler failed:", error);
  return new Response("Internal Server Error", { status: 500 });
}

function defaultOnListen(addr: Deno.NetAddr, scheme: string): void {
  console.log(`Listening on ${scheme}://${addr.hostname}:${addr.port}/`);
}

function kernel(): LoadedKernel {
  const loaded = loadKernelSync();
  if (loaded === undefined) {
    throw new KrepisError(
      "LOAD_FAILED",
      "serve() needs the Krepis kernel, which is not loaded yet and must come from the " +
        "download cache or be downloaded. Load it once before serve() with " +
        "`await kernelInfo()` (from @krepis/core/native), or point KREPIS_LIB_PATH at a " +
        "built kernel.",
    );
  }
  return loaded;
}

/** Starts the kernel's server; an address in use is Deno's `AddrInUse`. */
function start(loaded: LoadedKernel, options: Uint8Array<ArrayBuffer>) {
  const out = new Uint8Array(LAYOUT_CAPACITY);
  let len: number;
  try {
    len = loaded.bindings.httpServe(options, out);
  } catch (error) {
    if (
      error instanceof Error && /Address already in use/.test(error.message)
    ) {
      throw new Deno.errors.AddrInUse(error.message, { cause: error });
    }
    throw error;
  }
  return LAYOUT.decode(out.subarray(0, len));
}

/**
 * Serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge, or TLS with ALPN) from the Krepis
 * kernel. Sockets, parsing, limits and timeouts live in Rust; the handler is an ordinary
 * `Deno.serve` handler, so existing ones (e.g. a Hono app's `app.fetch`) run unchanged.
 *
 * Like `Deno.serve`, it returns the running server at once: the address is known, and
 * binding errors (`Deno.errors.AddrInUse`) and invalid options are thrown. The kernel
 * library must be loadable without a download for that (a local build or
 * `KREPIS_LIB_PATH`); when it comes from the download cache or a release, load it
 * once first with `await kernelInfo()` (from `@krepis/core/native`) — otherwise
 * `serve()` throws a `KrepisError` (`LOAD_FAILED`) saying so.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * const server = serve({ port: 0 }, (req, info) =>
 *   new Response(`hello ${info.remoteAddr.hostname}, request ${info.ctx.requestId}`));
 * await server.shutdown();
 * ```
 */
export function serve(handler: ServeHandler): HttpServer;
/**
 * Serves with options; see the single-argument form.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * import { kernelInfo } from "@krepis/core/native";
 * await kernelInfo(); // loads the kernel; only needed when it may have to be downloaded
 * const server = serve(
 *   {
 *     hostname: "127.0.0.1",
 *     port: 8080,
 *     requestTimeout: 5_000,
 *     static: { "/assets": "./public" }, // answered by the kernel, never by the handler
 *   },
 *   () => new Response("ok"),
 * );
 * await server.finished;
 * ```
 */
export function serve(
  options: ServeOptions,
  handler: ServeHandler,
): HttpServer;
export function serve(
  optionsOrHandler: ServeOptions | ServeHandler,
  maybeHandler?: ServeHandler,
): HttpServer {
  const single = typeof optionsOrHandler === "function";
  return serveAnswers(
    single ? {} : optionsOrHandler,
    single ? optionsOrHandler : maybeHandler!,
  );
}

/**
 * `serve` for a handler that may also answer with a `KernelAnswer` (`app.serve`'s).
 *
 * @example
 * ```ts ignore
 * import { KernelAnswer } from "./response.ts";
 * import { serveAnswers } from "./serve.ts";
 * const server = serveAnswers({ port: 0 }, () => new KernelAnswer(204, [], null));
 * await server.shutdown();
 * ```
 */
export function serveAnswers(
  options: ServeOptions,
  handler: AnswerHandler,
): HttpServer {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot serve HTTP requests: handler must be a function, received ${typeof handler}`,
    );
  }
  if (options.tls && (!options.tls.cert || !options.tls.key)) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      "tls needs both cert and key (PEM)",
    );
  }
  const message = OPTIONS.encode({
    hostname: options.hostname ?? "0.0.0.0",
    port: port(options.port),
    certPem: options.tls?.cert ?? "",
    keyPem: options.tls?.key ?? "",
    maxHeaderSize: count("maxHeaderSize", options.maxHeaderSize, 2 ** 31),
    maxBodySize: BigInt(count("maxBodySize", options.maxBodySize, 2 ** 53)),
    requestTimeoutMs: orNone(
      count("requestTimeout", options.requestTimeout, 2 ** 40),
      options.requestTimeout,
    ),
    threads: count("threads", options.threads, 64),
    idleTimeoutMs: BigInt(count("idleTimeout", options.idleTimeout, 2 ** 40)),
    bodyTimeoutMs: BigInt(count("bodyTimeout", options.bodyTimeout, 2 ** 40)),
    minBodyRate: orNone(
      count("minBodyRate", options.minBodyRate, 2 ** 53),
      options.minBodyRate,
    ),
    maxBufferedMemory: BigInt(
      count("maxBufferedMemory", options.maxBufferedMemory, 2 ** 53),
    ),
    noCompression: options.automaticCompression === false,
    staticMounts: staticMounts(options.static),
    ...staticCache(options.staticCache),
  });
  options.signal?.throwIfAborted();
  const loaded = kernel();
  const layout = start(loaded, message);
  let server: KernelServer;
  try {
    server = new KernelServer(
      loaded,
      layout,
      handler,
      options.onError ?? defaultOnError,
    );
  } catch (error) {
    // Taking over the server failed after the bind: release the port before reporting.
    loaded.bindings.httpClose(Number(layout.handle), Number(layout.key));
    throw error;
  }
  options.signal?.addEventListener(
    "abort",
    () => server.shutdown({ timeout: 0 }),
    { once: true },
  );
  if (options.onListen) options.onListen(server.addr);
  else defaultOnListen(server.addr, options.tls ? "https" : "http");
  return server;
}
