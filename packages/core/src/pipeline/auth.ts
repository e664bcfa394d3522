/**
 * The `auth` behavior: a hook deciding, before the handler runs, whether the operation may
 * proceed. It can return a new context (for example one carrying the principal as a
 * capability). Public handlers opt out with `skip: ["auth"]`.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { Result } from "../result/result.ts";
import { type Behavior, defineBehavior } from "./behavior.ts";

/**
 * Decides whether an operation may run; `ok(ctx)` continues with that context.
 *
 * @example
 * ```ts
 * import { AppError, err, ok } from "@krepis/core";
 * import type { AuthHook } from "@krepis/core/pipeline";
 * const tenantsOnly: AuthHook = (ctx) =>
 *   ctx.tenantId ? ok(ctx) : err(new AppError("UNAUTHORIZED", "tenant required"));
 * ```
 */
export type AuthHook = (
  ctx: KrepisContext,
  handler: AnyHandler,
  input: unknown,
) => Result<KrepisContext> | Promise<Result<KrepisContext>>;

/**
 * Creates the `auth` behavior from a hook.
 *
 * @example
 * ```ts
 * import { AppError, defineCapability, err, ok } from "@krepis/core";
 * import { HttpRequest } from "@krepis/core/http";
 * import { auth } from "@krepis/core/pipeline";
 * const User = defineCapability<string>("user");
 * const bearer = auth((ctx) => {
 *   const header = ctx.get(HttpRequest)?.headers.get("authorization");
 *   return header === "Bearer secret"
 *     ? ok(ctx.with(User, "alice"))
 *     : err(new AppError("UNAUTHORIZED", "missing or bad token"));
 * });
 * console.assert(bearer.name === "auth");
 * ```
 */
export function auth(hook: AuthHook): Behavior {
  return defineBehavior("auth", async (ctx, handler, input, next) => {
    const decision = await hook(ctx, handler, input);
    return decision.ok ? next(decision.value, input) : decision;
  });
}
