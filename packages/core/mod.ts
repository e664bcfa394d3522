/**
 * `@krepis/core`: a Deno application framework on a native Rust kernel.
 *
 * The kernel is loaded on first use through `Deno.dlopen` (see {@linkcode kernelInfo} for
 * where it comes from): a local build, the user cache, or a verified download.
 *
 * @example
 * ```ts ignore
 * import { kernelInfo } from "@krepis/core";
 * const info = await kernelInfo();
 * console.log(`Krepis kernel ${info.version} (${info.target}) from ${info.source}`);
 * ```
 *
 * @module
 */

export { KrepisError, type KrepisErrorCode } from "./src/errors.ts";
export {
  type KernelInfo,
  kernelInfo,
  type KernelStats,
  kernelStats,
} from "./src/kernel.ts";
export {
  type LibrarySource,
  type LoadedKernel,
  loadKernel,
  type ResolvedLibrary,
  resolveLibrary,
} from "./src/native/loader.ts";
export type { OpenedLibrary } from "./src/native/library.ts";
export { SharedBuffer } from "./src/native/shared_buffer.ts";
export {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  type TraceParent,
} from "./src/context/trace.ts";
export * from "./src/context/logger.ts";
export * from "./src/context/capability.ts";
export * from "./src/context/context.ts";
export * from "./src/result/result.ts";
export * from "./src/result/app_error.ts";
export * from "./src/di/port.ts";
export * from "./src/di/provide.ts";
export { Container, ResolutionError, Scope } from "./src/di/container.ts";
export * from "./src/di/disposer.ts";
export * from "./src/di/readonly.ts";
export * from "./src/cqs/schema.ts";
export * from "./src/cqs/handler.ts";
export { validateInput } from "./src/cqs/validate.ts";
export * from "./src/pipeline/behavior.ts";
export * from "./src/pipeline/errors.ts";
export * from "./src/pipeline/tracing.ts";
export * from "./src/pipeline/deadline_watch.ts";
export * from "./src/pipeline/timeout.ts";
export * from "./src/pipeline/auth.ts";
export * from "./src/router/router.ts";
export * from "./src/router/route.ts";
export * from "./src/openapi/json_schema.ts";
export * from "./src/openapi/document.ts";
export * from "./src/app/http_request.ts";
export type { FetchInfo } from "./src/app/request_context.ts";
export * from "./src/app/wiring.ts";
export * from "./src/app/create_app.ts";
export { serve } from "./src/http/serve.ts";
export type {
  HttpServer,
  RequestContext,
  ServeHandler,
  ServeHandlerInfo,
  ServeOptions,
  ServerStats,
  StaticMount,
  TlsOptions,
} from "./src/http/types.ts";
export * from "./src/storage/journal.ts";
export * from "./src/storage/kv.ts";
export {
  decodeKey,
  encodeKey,
  type KvKey,
  type KvKeyPart,
} from "./src/storage/kv_key.ts";
