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
import { Pending, settled } from "./pending.ts";

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
 * A step of a composed pipeline: a plain result when everything below it settled at once
 * (a synchronous validator and handler), otherwise a {@linkcode Pending} that every layer
 * adds its work to, so the whole pipeline takes one promise turn after the handler's.
 */
export type Step = (
  ctx: KrepisContext,
  input: unknown,
) => Result<unknown> | Pending;

/** What a built-in behavior runs when composed. */
type StepRun = (
  ctx: KrepisContext,
  handler: AnyHandler,
  input: unknown,
  next: Step,
) => Result<unknown> | Pending;

/** Built-in behaviors keep their step form here (not part of the public shape). */
const STEPS = new WeakMap<Behavior, StepRun>();

/**
 * Defines a built-in behavior whose composed form adds to a {@linkcode Pending} instead
 * of chaining promises. Its public `run` answers with a promise, as every behavior's does.
 */
export function defineStepBehavior(name: string, step: StepRun): Behavior {
  const behavior = defineBehavior(name, (ctx, handler, input, next) => {
    try {
      return settled(
        step(ctx, handler, input, (c, i) => pendingOf(next(c, i))),
      ) as Promise<Result<unknown>>;
    } catch (e) {
      return Promise.reject(e);
    }
  });
  STEPS.set(behavior, step);
  return behavior;
}

/** Whether `value` is a promise-like (a handler's or a behavior's answer). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

/** An answer as a step gives it: a `Pending` for anything still to come. */
export function pendingOf(value: unknown): Result<unknown> | Pending {
  return value instanceof Pending || !isThenable(value)
    ? value as Result<unknown> | Pending
    : new Pending(value);
}

/** A step as a `Next` for a behavior written against the public contract. */
function asNext(step: Step): Next {
  return (ctx, input) => {
    try {
      return settled(step(ctx, input)) as Promise<Result<unknown>>;
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
  terminal: (
    ctx: KrepisContext,
    input: unknown,
  ) => Result<unknown> | Pending | PromiseLike<Result<unknown>>,
): Step {
  let next: Step = (ctx, input) => pendingOf(terminal(ctx, input));
  for (let i = behaviors.length - 1; i >= 0; i--) {
    const b = behaviors[i];
    if (handler.skip.includes(b.name)) continue;
    const inner = next;
    const step = STEPS.get(b);
    if (step) {
      next = (ctx, input) => step(ctx, handler, input, inner);
    } else {
      const innerNext = asNext(inner);
      next = (ctx, input) => pendingOf(b.run(ctx, handler, input, innerNext));
    }
  }
  return next;
}
