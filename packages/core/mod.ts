/**
 * `@krepis/core`: the Krepis SDK — an explicit per-operation context, ports and adapters,
 * commands and queries with Standard Schema validation, a behavior pipeline, a router with
 * OpenAPI, all wired by `createApp`.
 *
 * @example
 * ```ts
 * import { createApp, defineQuery, memorySink, ok, route } from "@krepis/core";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const app = createApp({ queries: [ping], routes: [route("GET", "/ping", ping)], log: memorySink() });
 * console.assert((await (await app.fetch(new Request("http://x/ping"))).json()) === "pong");
 * ```
 *
 * @module
 */

export * from "./src/context/trace.ts";
export * from "./src/context/logger.ts";
export * from "./src/context/capability.ts";
export * from "./src/context/context.ts";
export * from "./src/result/result.ts";
export * from "./src/result/app_error.ts";
export * from "./src/di/port.ts";
export * from "./src/di/provide.ts";
export * from "./src/di/container.ts";
export * from "./src/di/readonly.ts";
export * from "./src/cqs/schema.ts";
export * from "./src/cqs/handler.ts";
export * from "./src/cqs/validate.ts";
export * from "./src/pipeline/behavior.ts";
export * from "./src/pipeline/errors.ts";
export * from "./src/pipeline/tracing.ts";
export * from "./src/pipeline/timeout.ts";
export * from "./src/pipeline/auth.ts";
export * from "./src/router/router.ts";
export * from "./src/router/route.ts";
export * from "./src/openapi/json_schema.ts";
export * from "./src/openapi/document.ts";
export * from "./src/app/http_request.ts";
export * from "./src/app/request_context.ts";
export * from "./src/app/http_handler.ts";
export * from "./src/app/plan.ts";
export * from "./src/app/wiring.ts";
export * from "./src/app/create_app.ts";
