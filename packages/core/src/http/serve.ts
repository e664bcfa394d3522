/**
 * `serve()`: HTTP/1.1 and HTTP/2 from the Rust kernel with TypeScript handlers, shaped
 * like `Deno.serve`.
 *
 * @module
 */

import { create, toBinary } from "@bufbuild/protobuf";
import { ServeOptionsSchema } from "@krepis/bindings";
import { KrepisError } from "../errors.ts";
import { loadKernel } from "../native/loader.ts";
import { KernelServer } from "./server.ts";
import type { HttpServer, ServeHandler, ServeOptions } from "./types.ts";

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

function staticMounts(
  mounts: ServeOptions["static"],
): { prefix: string; root: string; index: string[] }[] {
  return Object.entries(mounts ?? {}).map(([prefix, mount]) => {
    const { root, index = ["index.html"] } = typeof mount === "string"
      ? { root: mount }
      : mount;
    if (typeof root !== "string" || !Array.isArray(index)) {
      throw new KrepisError(
        "INVALID_ARGUMENT",
        `static mount "${prefix}" needs a root directory and an index list`,
      );
    }
    return { prefix, root, index };
  });
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

/**
 * Serves HTTP/1.1 and HTTP/2 (h2c with prior knowledge, or TLS with ALPN) from the Krepis
 * kernel. Sockets, parsing, limits and timeouts live in Rust; the handler is an ordinary
 * `Deno.serve` handler, so existing ones (e.g. a Hono app's `app.fetch`) run unchanged.
 *
 * Unlike `Deno.serve`, it resolves once the kernel is loaded and the port is bound, so
 * binding errors reject the promise.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * const server = await serve({ port: 0 }, (req, info) =>
 *   new Response(`hello ${info.remoteAddr.hostname}, request ${info.ctx.requestId}`));
 * await server.shutdown();
 * ```
 */
export function serve(handler: ServeHandler): Promise<HttpServer>;
/**
 * Serves with options; see the single-argument form.
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * const server = await serve(
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
): Promise<HttpServer>;
export async function serve(
  optionsOrHandler: ServeOptions | ServeHandler,
  maybeHandler?: ServeHandler,
): Promise<HttpServer> {
  const [options, handler] = typeof optionsOrHandler === "function"
    ? [{} as ServeOptions, optionsOrHandler]
    : [optionsOrHandler, maybeHandler];
  if (typeof handler !== "function") {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      "serve() needs a handler function",
    );
  }
  if (options.tls && (!options.tls.cert || !options.tls.key)) {
    throw new KrepisError(
      "INVALID_ARGUMENT",
      "tls needs both cert and key (PEM)",
    );
  }
  const message = create(ServeOptionsSchema, {
    hostname: options.hostname ?? "0.0.0.0",
    port: count("port", options.port ?? 8000, 65535),
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
  });
  const kernel = await loadKernel();
  options.signal?.throwIfAborted();
  const handle = kernel.bindings.httpServe(
    toBinary(ServeOptionsSchema, message),
  );
  const server = new KernelServer(
    kernel,
    handle,
    handler,
    options.onError ?? defaultOnError,
  );
  options.signal?.addEventListener("abort", () => server.shutdown(), {
    once: true,
  });
  if (options.onListen) options.onListen(server.addr);
  else defaultOnListen(server.addr, options.tls ? "https" : "http");
  return server;
}
