/**
 * The HTTP face of an app: routes a `Request` to a command or query, maps path parameters,
 * query string and JSON body to its input, and turns the `Result` into a JSON `Response`
 * carrying the trace context (`traceparent`) and the request id.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import { AppError } from "../result/app_error.ts";
import type { Result } from "../result/result.ts";
import { KernelRequest } from "../http/request.ts";
import { KernelAnswer, LaterAnswer } from "../http/response.ts";
import { pendingOf } from "../pipeline/behavior.ts";
import { type Layer, Pending } from "../pipeline/pending.ts";
import type { Router } from "../router/router.ts";
import { defaultInput, type Route } from "../router/route.ts";
import {
  type FetchInfo,
  requestContext,
  type RequestContextOptions,
} from "./request_context.ts";

/** What the HTTP handler needs from the app. */
export interface HttpHandlerOptions extends RequestContextOptions {
  /** Routes, checked at start-up. */
  router: Router<Route>;
  /** Runs a handler through its pipeline (with a plain result when it settled at once). */
  execute(
    ctx: KrepisContext,
    handler: AnyHandler,
    input: unknown,
  ): Result<unknown> | Pending | PromiseLike<Result<unknown>>;
  /** Largest accepted request body in bytes. */
  maxBodyBytes: number;
  /** Path and lazily built document served for OpenAPI, if enabled. */
  openapi?: { path: string; document: () => string };
  /** Whether responses carry `traceparent` and `x-request-id` (default true). */
  traceHeaders?: boolean;
}

const BODYLESS = new Set(["GET", "HEAD", "DELETE", "OPTIONS"]);

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

const JSON_TYPE_VALUE = "application/json; charset=utf-8";
// A `Headers` init is copied by the constructor (never shared with the response), and
// converts cheaper than a plain object (≈0.25 against 0.33 µs a Response here).
const JSON_HEADERS = new Headers({ "content-type": JSON_TYPE_VALUE });

/** A response: a `KernelAnswer` only for the kernel's server (see `createKernelHandler`). */
type Answer = Response | KernelAnswer;

/** How to answer one request: bit flags, so no object is made per request. */
type Mode = number;
/** The request is a HEAD: no body. */
const HEAD = 1;
/** Responses carry `traceparent` and `x-request-id`. */
const TRACE = 2;
/** Served by the kernel's server: answers are `KernelAnswer`s. */
const KERNEL = 4;
/** A JSON answer's own header, as the kernel's server takes it (shared, never changed). */
const JSON_LIST: readonly string[] = Object.freeze([
  "content-type",
  JSON_TYPE_VALUE,
]);
const NONE: readonly string[] = Object.freeze([]);

/**
 * The kernel's answer: the headers a `Response` would carry, in the same order. The trace
 * headers come last unless there are `extra` ones (a 405's `allow`): then the kernel writes
 * them from the request's ids (the same as `ctx`'s: the context is made from them), else
 * they are built here to keep their place.
 */
function kernelAnswer(
  ctx: KrepisContext,
  status: number,
  body: string | null | undefined,
  mode: Mode,
  extra?: Record<string, string>,
): KernelAnswer {
  const own = body === undefined ? NONE : JSON_LIST;
  if (!extra) {
    return new KernelAnswer(status, own, body ?? null, NONE, !!(mode & TRACE));
  }
  const more = mode & TRACE
    ? ["traceparent", ctx.traceparent(), "x-request-id", ctx.requestId]
    : [];
  if (extra) { for (const name in extra) more.push(name, extra[name]); }
  return new KernelAnswer(status, own, body ?? null, more);
}

function respond(
  ctx: KrepisContext,
  status: number,
  json: string | undefined,
  mode: Mode,
  extra?: Record<string, string>,
): Answer {
  const body = json === undefined || NULL_BODY.has(status)
    ? undefined
    : mode & HEAD
    ? null
    : json;
  if (mode & KERNEL) return kernelAnswer(ctx, status, body, mode, extra);
  // Deno's Response constructor takes a fast path when its init carries at most a
  // content-type. With the trace headers, `Headers` get built anyway: then a bare
  // constructor, a `set` (over the string body's default type) and two `append`s cost
  // less than a header init.
  let res: Response;
  if (!(mode & TRACE)) {
    res = body === undefined
      ? new Response(null, { status })
      : new Response(body, { status, headers: JSON_HEADERS });
  } else {
    res = status === 200
      ? new Response(body ?? null)
      : new Response(body ?? null, { status });
    const headers = res.headers;
    if (body !== undefined) headers.set("content-type", JSON_TYPE_VALUE);
    headers.append("traceparent", ctx.traceparent());
    headers.append("x-request-id", ctx.requestId);
  }
  if (extra) { for (const name in extra) res.headers.set(name, extra[name]); }
  return res;
}

function fail(
  ctx: KrepisContext,
  error: AppError,
  mode: Mode,
  extra?: Record<string, string>,
): Answer {
  return respond(
    ctx,
    error.status,
    JSON.stringify({ error: error.toJSON() }),
    mode,
    extra,
  );
}

function internal(
  ctx: KrepisContext,
  route: Route,
  error: unknown,
  mode: Mode,
): Answer {
  ctx.log.error("request failed", { handler: route.handler.name, error });
  return fail(ctx, new AppError("INTERNAL", "internal error"), mode);
}

function queryOf(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (search === "") return query;
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = query[k];
    query[k] = prev === undefined
      ? v
      : Array.isArray(prev)
      ? [...prev, v]
      : [prev, v];
  }
  return query;
}

const ENCODER = new TextEncoder();
const JSON_TYPE = /^application\/([\w.+-]+\+)?json\b/i;

function tooLarge(max: number): AppError {
  return new AppError("PAYLOAD_TOO_LARGE", `body larger than ${max} bytes`);
}

/** `req.headers.get(name)`; the kernel's requests answer without building `Headers`. */
function headerOf(req: Request, name: string): string | null {
  return req instanceof KernelRequest
    ? KernelRequest.header(req, name)
    : req.headers.get(name);
}

/** Throws 413 when the request announces a body larger than `max`. */
function checkDeclared(req: Request, max: number): void {
  // Reading `req.body` would materialise a ReadableStream; text() takes a fast path.
  const declared = Number(headerOf(req, "content-length") ?? "0");
  if (declared > max) throw tooLarge(max);
}

/**
 * The body `text` parsed as `bodyOf` says. Its byte size is known without encoding unless
 * its UTF-16 length falls between max/3 and max.
 */
function parseBody(req: Request, text: string, max: number): unknown {
  if (text.length * 3 > max) {
    if (text.length > max || ENCODER.encode(text).length > max) {
      throw tooLarge(max);
    }
  }
  if (text === "") return undefined;
  const type = headerOf(req, "content-type") ?? "";
  // The usual value is compared first: the pattern costs more than the comparison.
  if (type !== "application/json" && !JSON_TYPE.test(type)) {
    throw new AppError(
      "UNSUPPORTED_MEDIA_TYPE",
      `expected an application/json body, got "${type || "no content-type"}"`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AppError("INVALID_INPUT", "request body is not valid JSON", {
      details: { reason: (e as Error).message },
    });
  }
}

/** Splits a request URL into its path and its query string (without `?`), cheaply. */
function splitUrl(url: string): [path: string, search: string] {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return ["/", ""];
  const q = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  const end = hash === -1 ? url.length : hash;
  return q === -1 || q > end
    ? [url.slice(start, end), ""]
    : [url.slice(start, q), url.slice(q + 1, end)];
}

/** Turns a handler's outcome into the response. */
function answer(
  ctx: KrepisContext,
  route: Route,
  result: Result<unknown>,
  mode: Mode,
): Answer {
  if (!result.ok) return fail(ctx, result.error, mode);
  const value = result.value;
  let json: string | undefined;
  try {
    json = value === undefined ? undefined : JSON.stringify(value);
  } catch (e) {
    return internal(ctx, route, e, mode); // a BigInt or a cycle in the value
  }
  return respond(
    ctx,
    route.status ?? (value === undefined ? 204 : 200),
    json,
    mode,
  );
}

/** What a thrown value becomes: its own response for an `AppError`, else a logged 500. */
function thrown(
  ctx: KrepisContext,
  route: Route,
  e: unknown,
  mode: Mode,
): Answer {
  if (e instanceof AppError) return fail(ctx, e, mode);
  // A route's input mapper or the app's context hook threw, or a handler that opted
  // out of the `errors` behavior did.
  return internal(ctx, route, e, mode);
}

/** The HTTP layer of an answer still pending: the outcome becomes the response. */
class Answering implements Layer {
  constructor(
    readonly ctx: KrepisContext,
    readonly route: Route,
    readonly mode: Mode,
  ) {}

  /** The handler's result as the response. */
  ok(result: unknown): Answer {
    return answer(this.ctx, this.route, result as Result<unknown>, this.mode);
  }

  /** A thrown value as the response. */
  err(e: unknown): Answer {
    return thrown(this.ctx, this.route, e, this.mode);
  }
}

/** Whether a route's match has no path parameters. */
function noParams(params: Record<string, string>): boolean {
  for (const _ in params) return false;
  return true;
}

/** The input a route's handler gets. */
function inputOf(
  route: Route,
  params: Record<string, string>,
  search: string,
  body: unknown,
): unknown {
  if (route.input) {
    return route.input({ params, query: queryOf(search), body });
  }
  // With one source only, the default input is that source (path parameters are a fresh
  // object per match, a body a fresh `JSON.parse`: plain own fields, as the merge would
  // copy), so nothing is merged or copied.
  if (search === "") {
    if (body === undefined) return params;
    if (noParams(params)) return body;
  }
  return defaultInput({ params, query: queryOf(search), body });
}

/**
 * Creates the fetch-style handler of an app (used by `createApp`; exposed for custom hosts).
 * It answers with a plain `Response` when the route's work settled synchronously (no body
 * to read, a synchronous validator and handler), as `Deno.serve` handlers may.
 *
 * @example
 * ```ts
 * import { defineQuery, ok, type Route, route } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * import { Router } from "../router/router.ts";
 * import { createFetchHandler } from "./http_handler.ts";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const router = new Router<Route>();
 * router.add("GET", "/ping", route("GET", "/ping", ping));
 * const fetch = createFetchHandler({
 *   router,
 *   execute: (ctx, h, input) => h.handle(ctx, input, {}),
 *   maxBodyBytes: 1024,
 *   log: memorySink(),
 *   tenantHeader: "x-tenant-id",
 *   requestTimeoutMs: 1000,
 * });
 * const res = await fetch(new Request("http://x/ping"));
 * console.assert((await res.json()) === "pong");
 * ```
 */
export function createFetchHandler(
  options: HttpHandlerOptions,
): (req: Request, info?: FetchInfo) => Response | Promise<Response> {
  // Without `KERNEL` every answer is a `Response`.
  return handlerFor(options, 0) as (
    req: Request,
    info?: FetchInfo,
  ) => Response | Promise<Response>;
}

/**
 * Creates the handler `app.serve` gives the kernel's server: it answers as
 * {@linkcode createFetchHandler}'s does, with `KernelAnswer`s instead of `Response`s (the
 * same statuses, headers in the same order, and bodies). Its trace headers are written by
 * the kernel from the ids of the request it handed over (`info.ctx`), which are the ids of
 * the request's context.
 *
 * @example
 * ```ts
 * import { defineQuery, ok, type Route, route } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 * import { KernelAnswer } from "../http/response.ts";
 * import { Router } from "../router/router.ts";
 * import { createKernelHandler } from "./http_handler.ts";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const router = new Router<Route>();
 * router.add("GET", "/ping", route("GET", "/ping", ping));
 * const handle = createKernelHandler({
 *   router,
 *   execute: (ctx, h, input) => h.handle(ctx, input, {}),
 *   maxBodyBytes: 1024,
 *   log: memorySink(),
 *   tenantHeader: "x-tenant-id",
 *   requestTimeoutMs: 1000,
 * });
 * const answer = await handle(new Request("http://x/ping"));
 * console.assert(answer instanceof KernelAnswer && answer.body === '"pong"');
 * ```
 */
export function createKernelHandler(
  options: HttpHandlerOptions,
): (
  req: Request,
  info?: FetchInfo,
) => Answer | LaterAnswer | Pending | Promise<Answer> {
  return handlerFor(options, KERNEL);
}

function handlerFor(
  options: HttpHandlerOptions,
  kernel: Mode,
): (
  req: Request,
  info?: FetchInfo,
) => Answer | LaterAnswer | Pending | Promise<Answer> {
  const { router, openapi, maxBodyBytes, execute } = options;
  const trace = (options.traceHeaders === false ? 0 : TRACE) | kernel;
  // The answer, or a `Pending` whose outcome is the answer.
  const run = (
    ctx: KrepisContext,
    route: Route,
    params: Record<string, string>,
    search: string,
    body: unknown,
    mode: Mode,
  ): Answer | Pending => {
    let result;
    try {
      result = pendingOf(execute(
        ctx,
        route.handler,
        inputOf(route, params, search, body),
      ));
    } catch (e) {
      return thrown(ctx, route, e, mode);
    }
    return result instanceof Pending
      ? result.layer(new Answering(ctx, route, mode))
      : answer(ctx, route, result, mode);
  };
  // An outcome still pending: the kernel's server follows the `Pending` itself.
  const pending = (p: Pending, mode: Mode): Pending | Promise<Answer> =>
    mode & KERNEL ? p : p.promise() as Promise<Answer>;
  const withBody = (
    req: Request,
    ctx: KrepisContext,
    route: Route,
    params: Record<string, string>,
    search: string,
    mode: Mode,
  ): Answer | LaterAnswer | Pending | Promise<Answer> => {
    // A body announced larger than the limit is refused unread. The body's JSON is
    // then checked by `parseBody` (413 past the limit, 415 for a non-JSON type, 400 for
    // bad JSON).
    try {
      checkDeclared(req, maxBodyBytes);
    } catch (e) {
      return thrown(ctx, route, e, mode);
    }
    if (req instanceof KernelRequest) {
      // A body the kernel buffered whole is read now: the route runs in this turn.
      const text = KernelRequest.bufferedText(req);
      if (text !== undefined) {
        let body;
        try {
          body = parseBody(req, text, maxBodyBytes);
        } catch (e) {
          return thrown(ctx, route, e, mode);
        }
        const response = run(ctx, route, params, search, body, mode);
        return response instanceof Pending ? pending(response, mode) : response;
      }
    }
    // One promise (or `LaterAnswer`) for a body still to come, settled straight from the
    // pipeline's outcome: no promise per step (a promise returned from a `then` callback
    // would cost two turns, an `async` helper one more promise). The body is read with
    // `text()`, cheaper than bytes + decode.
    const start = (
      resolve: (answer: Answer) => void,
      reject: (error: unknown) => void,
    ) => {
      const failed = (e: unknown) => {
        try {
          resolve(thrown(ctx, route, e, mode));
        } catch (e2) {
          reject(e2);
        }
      };
      let reading: Promise<string>;
      try {
        reading = req.text();
      } catch (e) {
        return failed(e);
      }
      reading.then((text) => {
        try {
          let body;
          try {
            body = parseBody(req, text, maxBodyBytes);
          } catch (e) {
            return failed(e);
          }
          const response = run(ctx, route, params, search, body, mode);
          if (response instanceof Pending) {
            response.into(resolve as (value: unknown) => void, reject);
          } else resolve(response);
        } catch (e) {
          reject(e);
        }
      }, failed);
    };
    return mode & KERNEL ? new LaterAnswer(start) : new Promise(start);
  };
  return (req, info) => {
    const ctx = requestContext(req, info, options);
    const method = req.method; // a getter with brand checks: read once
    const head = method === "HEAD";
    const mode = head ? HEAD | trace : trace;
    const [path, search] = splitUrl(req.url);
    if (
      openapi && path === openapi.path && (method === "GET" || head)
    ) {
      return respond(ctx, 200, openapi.document(), mode);
    }
    const found = router.match(method, path);
    if (found.kind === "not-found") {
      return fail(
        ctx,
        new AppError("NOT_FOUND", `no route for ${path}`),
        mode,
      );
    }
    if (found.kind === "bad-path") {
      return fail(
        ctx,
        new AppError("INVALID_INPUT", "malformed percent-encoding in path"),
        mode,
      );
    }
    if (found.kind === "method-not-allowed") {
      return fail(
        ctx,
        new AppError(
          "METHOD_NOT_ALLOWED",
          `${method} is not allowed on ${path}`,
        ),
        mode,
        { allow: found.allowed.join(", ") },
      );
    }
    const { value: route, params } = found.match;
    if (BODYLESS.has(method)) {
      const response = run(ctx, route, params, search, undefined, mode);
      return response instanceof Pending ? pending(response, mode) : response;
    }
    return withBody(req, ctx, route, params, search, mode);
  };
}
