/**
 * The per-handler execution plan, built once at start-up: input validation, dependency
 * resolution (read-only views for queries), the handler call, and the behavior chain
 * around them.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import { validateInput } from "../cqs/validate.ts";
import type { Container, ContainerEntry } from "../di/container.ts";
import type { Port } from "../di/port.ts";
import { readOnlyView } from "../di/readonly.ts";
import {
  type Behavior,
  compose,
  isThenable,
  type Step,
} from "../pipeline/behavior.ts";
import { Pending, settled } from "../pipeline/pending.ts";
import { toAppError } from "../pipeline/errors.ts";
import { AppError } from "../result/app_error.ts";
import { err, type Result } from "../result/result.ts";

/**
 * Checks what a handler returned: anything but `ok(...)`/`err(...)` is a programming error,
 * and an `err` carrying something other than an `AppError` is mapped to one, so the layers
 * above can rely on `error.status` and `error.code`.
 */
function checked(name: string, result: unknown): Result<unknown> {
  const r = result as Result<unknown, unknown> | undefined;
  if (typeof r !== "object" || r === null || typeof r.ok !== "boolean") {
    throw new TypeError(
      `handler "${name}" must return ok(value) or err(appError), got ${
        r === null ? "null" : typeof r
      }`,
    );
  }
  if (r.ok || r.error instanceof AppError) return r as Result<unknown>;
  return err(toAppError(r.error));
}

function terminalFor(handler: AnyHandler, container: Container): Step {
  const label = `${handler.kind} "${handler.name}"`;
  const keys = Object.keys(handler.deps);
  const ports: Port[] = keys.map((k) => handler.deps[k]);
  const entries: ContainerEntry[] = ports.map((p) => container.entry(p, label));
  const views = ports.map((p) => handler.kind === "query" && p.writes.size > 0);
  const scoped = entries.some((e) => e.binding.lifetime === "scoped");
  const name = handler.name;

  const build = (resolve: (e: ContainerEntry) => unknown) => {
    const deps: Record<string, object> = {};
    for (let i = 0; i < keys.length; i++) {
      const instance = resolve(entries[i]) as object;
      deps[keys[i]] = views[i]
        ? readOnlyView(instance, ports[i], name)
        : instance;
    }
    return Object.freeze(deps);
  };
  // Singleton-only dependencies (and their read-only views) are built once per handler.
  let shared: Readonly<Record<string, object>> | undefined;
  const singleton = (e: ContainerEntry) => container.singleton(e);

  const check = (result: unknown) => checked(name, result);
  // No `async` on the common path: a synchronous validator and handler settle the
  // operation without any promise, and an asynchronous handler's answer is one `Pending`
  // every layer adds to.
  const call = (
    ctx: KrepisContext,
    input: unknown,
  ): Result<unknown> | Pending => {
    if (scoped) return new Pending(callScoped(ctx, input));
    const r = handler.handle(ctx, input, shared ??= build(singleton));
    return isThenable(r) ? new Pending(r).map(check) : checked(name, r);
  };
  const callScoped = async (ctx: KrepisContext, input: unknown) => {
    const scope = container.scope(ctx);
    try {
      return checked(
        name,
        await handler.handle(ctx, input, build((e) => scope.resolve(e))),
      );
    } finally {
      if (scope.needsDispose) await scope.dispose();
    }
  };
  const validated = (ctx: KrepisContext, valid: Result<unknown>) =>
    valid.ok ? call(ctx, valid.value) : valid;

  return (ctx: KrepisContext, raw: unknown) => {
    const valid = validateInput(name, handler.input, raw);
    // An asynchronous validator: the handler's answer is followed as a promise.
    return valid instanceof Promise
      ? new Pending(valid.then((v) => settled(validated(ctx, v))))
      : validated(ctx, valid);
  };
}

/**
 * Builds the runnable pipeline of every handler.
 *
 * @example
 * ```ts
 * import { createContext, defineQuery, ok } from "@krepis/core";
 * import { Container } from "../di/container.ts";
 * import { buildPlans } from "./plan.ts";
 * const q = defineQuery({ name: "q", handle: () => ok(1) });
 * const plans = buildPlans([q], [], new Container([], createContext()));
 * const r = await plans.get(q)!(createContext(), undefined);
 * console.assert(r.ok && r.value === 1);
 * ```
 */
export function buildPlans(
  handlers: readonly AnyHandler[],
  behaviors: readonly Behavior[],
  container: Container,
): Map<AnyHandler, Step> {
  const plans = new Map<AnyHandler, Step>();
  for (const h of handlers) {
    plans.set(h, compose(behaviors, h, terminalFor(h, container)));
  }
  return plans;
}
