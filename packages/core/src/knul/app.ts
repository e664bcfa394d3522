/**
 * An app's commands and queries as KNUL methods: named by the handler's name, run through
 * the app's full pipeline (input validated by the handler's Standard Schema), `AppError`
 * codes mapped to KNUL statuses, queries idempotent (so they may run from 0-RTT data).
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { Result } from "../result/result.ts";
import type { KnulMethod } from "./types.ts";

/**
 * The KNUL methods of `handlers`, each running `execute` (the app's pipeline).
 *
 * @example
 * ```ts
 * import { defineQuery, ok } from "@krepis/core";
 * import { appMethods } from "./app.ts";
 * const ping = defineQuery({ name: "ping", handle: () => ok("pong") });
 * const methods = appMethods([ping], (ctx, h, input) => Promise.resolve(h.handle(ctx, input, {})));
 * console.assert(methods.ping.idempotent === true);
 * ```
 */
export function appMethods(
  handlers: readonly AnyHandler[],
  execute: (
    ctx: KrepisContext,
    handler: AnyHandler,
    input: unknown,
  ) => Promise<Result<unknown>>,
): Record<string, KnulMethod> {
  const methods: Record<string, KnulMethod> = {};
  for (const handler of handlers) {
    methods[handler.name] = {
      idempotent: handler.kind === "query",
      handler: async (ctx, input) => {
        const result = await execute(ctx, handler, input);
        if (result.ok) return result.value;
        throw result.error;
      },
    };
  }
  return methods;
}
