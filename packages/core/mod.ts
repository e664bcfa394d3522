/**
 * `@krepis/core`: a Deno application framework on a native Rust kernel.
 *
 * This root entry is the application layer: commands and queries, ports and adapters,
 * `Result`/`AppError`, the request context, pipeline behaviors, routes and `createApp`.
 * It is safe to import from domain and application code. Everything that does I/O lives
 * in a subpath: `@krepis/core/http` (servers), `@krepis/core/storage` (KV, journal),
 * `@krepis/core/native` (the kernel library); pipeline behaviors (error mapping, tracing,
 * timeouts, auth) are in `@krepis/core/pipeline`, test helpers in `@krepis/core/testing`.
 *
 * @example
 * ```ts
 * import { createApp, defineQuery, ok, route } from "@krepis/core";
 * import { memorySink } from "@krepis/core/testing";
 *
 * const hello = defineQuery({ name: "hello", handle: () => ok("hi") });
 * const app = createApp({
 *   queries: [hello],
 *   routes: [route("GET", "/hello", hello)],
 *   log: memorySink(),
 * });
 * const res = await app.fetch(new Request("http://localhost/hello"));
 * console.assert(res.status === 200);
 * ```
 *
 * @module
 */

export {
  type Err,
  err,
  type Ok,
  ok,
  type Result,
} from "./src/result/result.ts";
export {
  type AnyErrorCode,
  AppError,
  type AppErrorOptions,
  ERROR_STATUS,
  type ErrorCode,
} from "./src/result/app_error.ts";
export type {
  LogFields,
  Logger,
  LogLevel,
  LogSink,
  LogThreshold,
} from "./src/context/logger.ts";
export { jsonLinesSink } from "./src/context/logger.ts";
export { type Capability, defineCapability } from "./src/context/capability.ts";
export {
  type ContextInit,
  type ContextOverrides,
  createContext,
  KrepisContext,
  type SignalSource,
} from "./src/context/context.ts";
export { definePort, type Port, type PortOptions } from "./src/di/port.ts";
export {
  type AdapterBinding,
  type Factory,
  type Lifetime,
  provide,
  type ProvideOptions,
  type Resolver,
} from "./src/di/provide.ts";
export { CqsViolationError } from "./src/di/readonly.ts";
export {
  type AnyHandler,
  defineCommand,
  defineQuery,
  type DepsSpec,
  type Handler,
  type HandlerKind,
  type HandlerSpec,
  type InputOf,
  type OutputOf,
  type QueryDeps,
  type RawInputOf,
  type ResolvedDeps,
} from "./src/cqs/handler.ts";
export {
  type HttpMethod,
  type RequestParts,
  type Route,
  route,
  type RouteOptions,
} from "./src/router/route.ts";
export { WiringError } from "./src/app/wiring.ts";
export {
  type App,
  type AppOpenApiOptions,
  type AppOptions,
  createApp,
} from "./src/app/create_app.ts";
export type { OpenApiInfo } from "./src/openapi/document.ts";
