/**
 * Route declarations: an HTTP method and path pattern bound to a command or query.
 *
 * @module
 */

import type { AnyHandler } from "../cqs/handler.ts";

/**
 * HTTP methods a route may use.
 *
 * @example
 * ```ts
 * import type { HttpMethod } from "@krepis/core";
 * const method: HttpMethod = "PATCH";
 * console.assert(method === "PATCH");
 * ```
 */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * The parts of a request that are mapped to handler input.
 *
 * @example
 * ```ts
 * import type { RequestParts } from "@krepis/core";
 * import { defaultInput } from "./route.ts";
 * const parts: RequestParts = { params: { id: "1" }, query: { verbose: "true" }, body: undefined };
 * console.assert((defaultInput(parts) as { id: string }).id === "1");
 * ```
 */
export interface RequestParts {
  /** Decoded path parameters. */
  params: Record<string, string>;
  /** Query-string values; repeated keys become arrays. */
  query: Record<string, string | string[]>;
  /** The parsed JSON body, or `undefined` when there is none. */
  body: unknown;
}

/**
 * Options of {@linkcode route}.
 *
 * @example
 * ```ts
 * import { defineCommand, ok, route, type RouteOptions } from "@krepis/core";
 * const upload = defineCommand({ name: "upload", handle: () => ok(undefined) });
 * const options: RouteOptions = { status: 202, input: ({ params, body }) => ({ ...params, file: body }) };
 * route("PUT", "/files/:name", upload, options);
 * ```
 */
export interface RouteOptions {
  /** Status of a successful response (default 200, or 204 when the value is `undefined`). */
  status?: number;
  /**
   * Builds the handler input from the request parts. Default: the query string, then the
   * body's fields, then the path parameters, merged into one object.
   */
  input?: (parts: RequestParts) => unknown;
}

/**
 * A route: method, path pattern, target handler and options.
 *
 * @example
 * ```ts
 * import { defineQuery, ok, type Route, route } from "@krepis/core";
 * const health = defineQuery({ name: "health", handle: () => ok("up") });
 * const r: Route = route("GET", "/health", health);
 * console.assert(r.path === "/health");
 * ```
 */
export interface Route extends RouteOptions {
  /** HTTP method. */
  readonly method: HttpMethod;
  /** Path pattern with `:param` segments, e.g. `/todos/:id`. */
  readonly path: string;
  /** The command or query the route runs. */
  readonly handler: AnyHandler;
}

/**
 * Declares a route.
 *
 * @example
 * ```ts
 * import { defineQuery, ok, route } from "@krepis/core";
 * const health = defineQuery({ name: "health", handle: () => ok({ up: true }) });
 * const r = route("GET", "/health", health);
 * console.assert(r.method === "GET" && r.handler === health);
 * ```
 */
export function route(
  method: HttpMethod,
  path: string,
  handler: AnyHandler,
  options: RouteOptions = {},
): Route {
  return Object.freeze({ ...options, method, path, handler });
}

/**
 * The default input mapping: query, then body fields, then path params (later wins).
 * A JSON body that is not an object (an array, a string, ...) is passed as the whole input.
 *
 * @example
 * ```ts
 * import { defaultInput } from "./route.ts";
 * const input = defaultInput({ params: { id: "1" }, query: {}, body: { title: "x" } });
 * console.assert(JSON.stringify(input) === '{"title":"x","id":"1"}');
 * ```
 */
export function defaultInput(parts: RequestParts): unknown {
  const { params, query, body } = parts;
  if (
    body !== undefined && (typeof body !== "object" || body === null ||
      Array.isArray(body))
  ) {
    return body;
  }
  return { ...query, ...(body as object | undefined), ...params };
}
