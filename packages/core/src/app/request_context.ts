/**
 * Builds the base `KrepisContext` of an HTTP request: from the kernel's per-request context
 * when the request came through the kernel, otherwise from the request's own headers
 * (`traceparent`, `x-request-id`, the tenant header) and `req.signal`.
 *
 * @module
 */

import { createContext, type KrepisContext } from "../context/context.ts";
import type { LogSink } from "../context/logger.ts";
import { parseTraceparent } from "../context/trace.ts";
import type { ServeHandlerInfo } from "../http/types.ts";

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
 * Builds the base context of one request.
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
  const headers = req.headers;
  const tenantId = headers.get(options.tenantHeader) ?? undefined;
  const kernel = info?.ctx;
  if (kernel) {
    return createContext({
      requestId: kernel.requestId,
      traceId: kernel.traceId,
      spanId: kernel.spanId,
      parentSpanId: kernel.parentSpanId,
      tenantId,
      deadline: kernel.deadline,
      // Lazy: the kernel makes a request's AbortController only when someone asks.
      signal: () => kernel.signal,
      log: options.log,
    });
  }
  const parent = parseTraceparent(headers.get("traceparent"));
  const requestId = headers.get("x-request-id");
  return createContext({
    requestId: requestId && REQUEST_ID.test(requestId) ? requestId : undefined,
    traceId: parent?.traceId,
    parentSpanId: parent?.parentSpanId,
    tenantId,
    deadline: Date.now() + options.requestTimeoutMs,
    // Lazy: touching req.signal under Deno.serve's default ("legacy abort") makes Deno
    // abort it with a new DOMException after every response, which doubles the CPU cost
    // of a small request. Only work that reads ctx.signal pays for it.
    signal: () => req.signal,
    log: options.log,
  });
}
