/**
 * `@krepis/core/http`: HTTP/1.1 and HTTP/2 servers on the Krepis kernel, with the
 * signature of `Deno.serve`. Adapters and the composition root (`main.ts`) import it;
 * domain and application code do not (`krepis check` reports it).
 *
 * @example
 * ```ts ignore
 * import { serve } from "@krepis/core/http";
 * const server = await serve({ port: 8000 }, () => new Response("hello"));
 * await server.shutdown();
 * ```
 *
 * @module
 */

export { serve } from "./src/http/serve.ts";
export {
  upgradeWebSocket,
  type UpgradeWebSocketOptions,
  type WebSocketUpgrade,
} from "./src/http/websocket.ts";
export type {
  HttpServer,
  RequestContext,
  ServeHandler,
  ServeHandlerInfo,
  ServeOptions,
  ServerStats,
  ShutdownOptions,
  StaticCacheOptions,
  StaticMount,
  TlsOptions,
} from "./src/http/types.ts";
export type { FetchInfo } from "./src/app/request_context.ts";
export { HttpRequest } from "./src/app/http_request.ts";
export { KrepisError, type KrepisErrorCode } from "./src/errors.ts";
