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
export { SharedBuffer } from "./src/native/shared_buffer.ts";
export {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  type TraceParent,
} from "./src/context/trace.ts";
export { serve } from "./src/http/serve.ts";
export type {
  HttpServer,
  RequestContext,
  ServeHandler,
  ServeHandlerInfo,
  ServeOptions,
  ServerStats,
  TlsOptions,
} from "./src/http/types.ts";
