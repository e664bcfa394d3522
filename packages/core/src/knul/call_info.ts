/**
 * The capability carrying a KNUL call's facts on its context.
 *
 * @module
 */

import { type Capability, defineCapability } from "../context/capability.ts";
import type { KnulCallInfo } from "./types.ts";

/**
 * Read inside a KNUL handler with `ctx.get(KnulCall)`: method, peer identity, priority,
 * metadata. Outgoing calls made with that context inherit its priority.
 *
 * @example
 * ```ts
 * import { KnulCall } from "@krepis/core/knul";
 * import type { KrepisContext } from "@krepis/core";
 * const whoCalled = (ctx: KrepisContext) => ctx.get(KnulCall)?.peer ?? "";
 * console.assert(typeof whoCalled === "function");
 * ```
 */
export const KnulCall: Capability<KnulCallInfo> = defineCapability<
  KnulCallInfo
>("knul.call");
