/**
 * The capability carrying the incoming HTTP request, attached by `app.fetch` so behaviors
 * (e.g. auth) and handlers can read headers without any ambient state.
 *
 * @module
 */

import { type Capability, defineCapability } from "../context/capability.ts";

/**
 * The current HTTP request; absent when an operation was started by `app.execute`.
 *
 * @example
 * ```ts
 * import { createContext } from "@krepis/core";
 * import { HttpRequest } from "@krepis/core/http";
 * const ctx = createContext().with(HttpRequest, new Request("http://x/"));
 * console.assert(ctx.get(HttpRequest)?.url === "http://x/");
 * ```
 */
export const HttpRequest: Capability<Request> = defineCapability<Request>(
  "HttpRequest",
);
