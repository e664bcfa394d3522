/**
 * A `behavior` plugin as a pipeline behavior of `createApp`: before each command or query it
 * wraps, the plugin is called (in its isolate) with the handler's name, kind and input, and
 * answers `{ input }` to continue (with a possibly new input) or `{ reject }` to stop.
 *
 * @module
 */

import type { Behavior } from "../pipeline/behavior.ts";
import { defineBehavior } from "../pipeline/behavior.ts";
import { AppError } from "../result/app_error.ts";
import { err } from "../result/result.ts";
import { PluginError } from "./errors.ts";
import type { Plugin } from "./load.ts";

/**
 * What a behavior plugin returns: `{}` or `{ input }` to continue, `{ reject }` to stop with
 * an application error.
 *
 * @example
 * ```ts
 * import type { BehaviorDecision } from "@krepis/core/plugins";
 * const stop: BehaviorDecision = { reject: { code: "FORBIDDEN", message: "no" } };
 * ```
 */
export interface BehaviorDecision {
  /** The input the handler receives instead. */
  input?: unknown;
  /** Stop: the call fails with this error. */
  reject?: { code: string; message: string; status?: number };
}

function toAppError(plugin: string, error: unknown): AppError {
  if (!(error instanceof PluginError)) {
    return new AppError("INTERNAL", `plugin ${plugin} failed`, {
      cause: error,
    });
  }
  switch (error.code) {
    case "TIMEOUT":
      return new AppError("TIMEOUT", `plugin ${plugin} timed out`, {
        cause: error,
      });
    case "CANCELLED":
      return new AppError("CANCELLED", "operation cancelled", { cause: error });
    case "PLUGIN_ERROR":
      return new AppError("INTERNAL", `plugin ${plugin} failed`, {
        cause: error,
      });
    default:
      return new AppError("UNAVAILABLE", `plugin ${plugin} is unavailable`, {
        cause: error,
      });
  }
}

/**
 * The pipeline behavior of a loaded `behavior` plugin, named `plugin:<name>` (a handler
 * opts out by listing that name in `skip`). Plugin failures become `AppError`s: `TIMEOUT`,
 * `CANCELLED`, `INTERNAL` (it threw) or `UNAVAILABLE` (crashed or restarting).
 *
 * @example
 * ```ts ignore
 * import { createApp } from "@krepis/core";
 * import { defaultBehaviors } from "@krepis/core/pipeline";
 * import { loadPlugin, pluginBehavior } from "@krepis/core/plugins";
 * const greeter = await loadPlugin("plugins/greeter", { trustedKeys: [publicKey] });
 * const app = createApp({ behaviors: [...defaultBehaviors(), pluginBehavior(greeter)] });
 * ```
 */
export function pluginBehavior(plugin: Plugin): Behavior {
  const { name, kind } = plugin.manifest;
  if (kind !== "behavior") {
    throw new TypeError(
      `plugin ${name} is a ${kind} plugin, not a behavior`,
    );
  }
  return defineBehavior(`plugin:${name}`, async (ctx, handler, input, next) => {
    let decision: unknown;
    try {
      decision = await plugin.call(ctx, {
        handler: handler.name,
        kind: handler.kind,
        input,
      });
    } catch (error) {
      return err(toAppError(name, error));
    }
    if (typeof decision !== "object" || decision === null) {
      return err(
        new AppError(
          "INTERNAL",
          `plugin ${name} returned ${typeof decision}, not a decision object`,
        ),
      );
    }
    const { reject, input: replaced } = decision as BehaviorDecision;
    if (reject !== undefined) {
      return err(
        new AppError(String(reject.code), String(reject.message), {
          status: typeof reject.status === "number" ? reject.status : undefined,
        }),
      );
    }
    return next(ctx, "input" in decision ? replaced : input);
  });
}
