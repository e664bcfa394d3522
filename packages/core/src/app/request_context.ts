/**
 * Builds the base `KrepisContext` of an HTTP request: from the kernel's per-request context
 * when the request came through the kernel, otherwise from the request's own headers
 * (`traceparent`, `x-request-id`, the tenant header) and `req.signal`.
 *
 * @module
 */

import {
  ABORT_WATCH,
  KERNEL_ORIGIN,
  type KernelOrigin,
  type SignalHost,
} from "../context/abort_watch.ts";
import { KrepisContext } from "../context/context.ts";
import type { LogSink } from "../context/logger.ts";
import { checkTraceparent, newSpanId, newTraceId } from "../context/trace.ts";
import type { ServeHandlerInfo } from "../http/types.ts";
import { HttpRequest } from "./http_request.ts";

/**
 * The second argument of a fetch-style handler. Under the kernel's `serve` it is the
 * `ServeHandlerInfo` (with the kernel's per-request `ctx`); plain hosts may pass nothing.
 *
 * @example
 * ```ts
 * import type { FetchInfo } from "@krepis/core/http";
 * const info: FetchInfo = {}; // plain hosts pass nothing; the kernel passes remoteAddr and ctx
 * console.assert(info.ctx === undefined);
 * ```
 */
export type FetchInfo = Partial<ServeHandlerInfo>;

/** Settings for {@linkcode requestContext}. */
export interface RequestContextOptions {
  /** Where the context logs. */
  log: LogSink;
  /** Header carrying the tenant id (lower case). */
  tenantHeader: string;
  /** Time budget of a request without a kernel deadline, in milliseconds. */
  requestTimeoutMs: number;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * Builds the base context of one request, with the request attached as
 * {@linkcode HttpRequest}.
 *
 * @example
 * ```ts
 * import { memorySink } from "@krepis/core/testing";
 * import { requestContext } from "./request_context.ts";
 * const req = new Request("http://x/", {
 *   headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
 * });
 * const ctx = requestContext(req, undefined, {
 *   log: memorySink(),
 *   tenantHeader: "x-tenant-id",
 *   requestTimeoutMs: 1000,
 * });
 * console.assert(ctx.traceId === "4bf92f3577b34da6a3ce929d0e0e4736");
 * console.assert(ctx.parentSpanId === "00f067aa0ba902b7");
 * ```
 */
export function requestContext(
  req: Request,
  info: FetchInfo | undefined,
  options: RequestContextOptions,
): KrepisContext {
  // Built with the constructor rather than createContext(...).with(...): this runs for
  // every request, and one context is half the work of two.
  const caps = { key: HttpRequest, value: req, next: undefined };
  // The kernel's server: the ids are read from the request's record when first asked
  // for (a request whose ids nobody reads cuts none out), and `info.ctx` is not made.
  const origin = (info as { [KERNEL_ORIGIN]?: KernelOrigin } | undefined)
    ?.[KERNEL_ORIGIN];
  if (origin) {
    return new KrepisContext(
      undefined,
      undefined,
      undefined,
      undefined,
      () => req.headers.get(options.tenantHeader) ?? undefined,
      origin.deadline,
      origin,
      undefined,
      options.log,
      caps,
      origin,
    );
  }
  const kernel = info?.ctx;
  if (kernel) {
    return new KrepisContext(
      kernel.requestId,
      kernel.traceId,
      kernel.spanId,
      kernel.parentSpanId,
      // Lazy: the first header read builds the request's Headers. The kernel's request
      // keeps its headers after the response, so work that outlives it can still ask.
      () => req.headers.get(options.tenantHeader) ?? undefined,
      kernel.deadline,
      // Lazy: the kernel makes a request's AbortController only when someone reads it,
      // and a behavior that only follows it (the timeout's) makes none.
      ABORT_WATCH in kernel ? kernel as SignalHost : () => kernel.signal,
      undefined,
      options.log,
      caps,
    );
  }
  // `req.headers` is taken now: Deno.serve keeps the header list of a request whose
  // `headers` were read before its response went out (and refuses reads after it for one
  // whose were not). So the ids and the tenant are read on first use (a request nobody
  // asks about reads no header), also by work that outlives the response.
  const headers = req.headers;
  const tenantHeader = options.tenantHeader;
  return new KrepisContext(
    undefined,
    undefined,
    undefined,
    undefined,
    () => headers.get(tenantHeader) ?? undefined,
    Date.now() + options.requestTimeoutMs,
    // Lazy: touching req.signal under Deno.serve's default ("legacy abort") makes Deno
    // abort it with a new DOMException after every response, which doubles the CPU cost
    // of a small request. Only work that reads ctx.signal pays for it.
    () => req.signal,
    undefined,
    options.log,
    caps,
    new IncomingIds(headers),
  );
}

/**
 * The ids of a request's root context, read from its `traceparent` and `x-request-id`
 * headers on first use (each is read once: the context keeps what it got); an absent or
 * malformed one is generated instead.
 */
class IncomingIds {
  #headers: Headers;
  /** The checked `traceparent` (`null`: not read yet); its ids are sliced out when asked. */
  #parent: string | undefined | null = null;

  constructor(headers: Headers) {
    this.#headers = headers;
  }

  #traceparent(): string | undefined {
    return this.#parent === null
      ? this.#parent = checkTraceparent(this.#headers.get("traceparent"))
      : this.#parent;
  }

  get requestId(): string {
    const id = this.#headers.get("x-request-id");
    // A new one has the kernel's shape (16 hex), so both hosts' ids look alike; it is
    // also shorter to send than a UUID (Deno checks a header value character by
    // character) and drawn from the pooled random bytes.
    return id && REQUEST_ID.test(id) ? id : newSpanId();
  }

  get traceId(): string {
    const tp = this.#traceparent();
    return tp === undefined ? newTraceId() : tp.slice(3, 35);
  }

  get spanId(): string {
    return newSpanId();
  }

  get parentSpanId(): string | undefined {
    return this.#traceparent()?.slice(36, 52);
  }
}
