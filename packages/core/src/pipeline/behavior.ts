/**
 * Pipeline behaviors: middleware that wraps every command and query (timeouts, error mapping,
 * tracing, auth, or your own). A handler opts out of a behavior by listing its name in `skip`.
 * Chains are composed once per handler at start-up, not per call.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { Result } from "../result/result.ts";

/**
 * Calls the rest of the pipeline (and finally the handler) with a possibly new context.
 *
 * @example
 * ```ts
 * import { defineBehavior, type Next } from "@krepis/core/pipeline";
 * const passThrough = defineBehavior("pass", (ctx, _handler, input, next: Next) => next(ctx, input));
 * console.assert(passThrough.name === "pass");
 * ```
 */
export type Next = (
  ctx: KrepisContext,
  input: unknown,
) => Promise<Result<unknown>>;

/**
 * One behavior: a name handlers can opt out of, and the wrapping logic.
 *
 * @example
 * ```ts
 * import type { Behavior } from "@krepis/core/pipeline";
 * const timing: Behavior = {
 *   name: "timing",
 *   async run(ctx, handler, input, next) {
 *     const start = performance.now();
 *     try {
 *       return await next(ctx, input);
 *     } finally {
 *       ctx.log.debug("timed", { handler: handler.name, ms: performance.now() - start });
 *     }
 *   },
 * };
 * console.assert(timing.name === "timing");
 * ```
 */
export interface Behavior {
  /** Unique name, used by a handler's `skip` list. */
  readonly name: string;
  /** Runs around the rest of the pipeline; must call `next` to continue. */
  run(
    ctx: KrepisContext,
    handler: AnyHandler,
    input: unknown,
    next: Next,
  ): Promise<Result<unknown>>;
}

/**
 * Defines a behavior from a function.
 *
 * @example
 * ```ts
 * import { defineBehavior } from "@krepis/core/pipeline";
 * const audit = defineBehavior("audit", async (ctx, handler, input, next) => {
 *   const result = await next(ctx, input);
 *   if (handler.kind === "command") ctx.log.info("audit", { ok: result.ok });
 *   return result;
 * });
 * console.assert(audit.name === "audit");
 * ```
 */
export function defineBehavior(name: string, run: Behavior["run"]): Behavior {
  return Object.freeze({ name, run });
}

/**
 * A step of a composed pipeline: settles with a plain result when everything below it did
 * (a synchronous validator and handler), so a request needs no promise turn at all.
 */
export type Step = (
  ctx: KrepisContext,
  input: unknown,
) => Result<unknown> | Promise<Result<unknown>>;

/** What a built-in behavior runs when composed: `next` may answer without a promise. */
type StepRun = (
  ctx: KrepisContext,
  handler: AnyHandler,
  input: unknown,
  next: Step,
) => Result<unknown> | Promise<Result<unknown>>;

/** Built-in behaviors keep their step form here (not part of the public shape). */
const STEPS = new WeakMap<Behavior, StepRun>();

/**
 * Defines a built-in behavior whose `run` may settle without a promise. Its public `run`
 * answers with a promise, as every behavior's does; `compose` uses the step form.
 */
export function defineStepBehavior(name: string, step: StepRun): Behavior {
  const behavior = defineBehavior(name, (ctx, handler, input, next) => {
    try {
      return Promise.resolve(step(ctx, handler, input, next));
    } catch (e) {
      return Promise.reject(e);
    }
  });
  STEPS.set(behavior, step);
  return behavior;
}

/** Whether `value` is a promise-like (a step's or a handler's answer). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** A step as a `Next` for a behavior written against the public contract. */
function asNext(step: Step): Next {
  return (ctx, input) => {
    try {
      return Promise.resolve(step(ctx, input));
    } catch (e) {
      return Promise.reject(e);
    }
  };
}

/**
 * Composes the behaviors that apply to `handler` (outermost first) around `terminal`.
 * Built-in behaviors are chained as steps; one written with {@linkcode defineBehavior}
 * gets a `next` that answers with a promise, as its contract says.
 *
 * @example
 * ```ts
 * import { createContext, defineQuery, ok } from "@krepis/core";
 * import { defineBehavior } from "@krepis/core/pipeline";
 * import { compose } from "./behavior.ts";
 * const seen: string[] = [];
 * const mark = defineBehavior("mark", (ctx, _h, input, next) => {
 *   seen.push("mark");
 *   return next(ctx, input);
 * });
 * const q = defineQuery({ name: "q", handle: () => ok(1) });
 * const run = compose([mark], q, () => ok(1));
 * await run(createContext(), undefined);
 * console.assert(seen[0] === "mark");
 * ```
 */
export function compose(
  behaviors: readonly Behavior[],
  handler: AnyHandler,
  terminal: Step,
): Step {
  let next = terminal;
  for (let i = behaviors.length - 1; i >= 0; i--) {
    const b = behaviors[i];
    if (handler.skip.includes(b.name)) continue;
    const inner = next;
    const step = STEPS.get(b);
    if (step) {
      next = (ctx, input) => step(ctx, handler, input, inner);
    } else {
      const innerNext = asNext(inner);
      next = (ctx, input) => b.run(ctx, handler, input, innerNext);
    }
  }
  return next;
}
