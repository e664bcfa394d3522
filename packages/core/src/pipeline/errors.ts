/**
 * The `errors` behavior: turns anything a handler throws into an `err(AppError)` so callers
 * and the HTTP layer always get a `Result`. Unknown errors become `INTERNAL` with a generic
 * message (the original is logged, not sent).
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import { CqsViolationError } from "../di/readonly.ts";
import { AppError } from "../result/app_error.ts";
import { err, type Result } from "../result/result.ts";
import { type Behavior, defineStepBehavior } from "./behavior.ts";
import { type Layer, Pending } from "./pending.ts";

/**
 * Maps a thrown value to an `AppError`: `AppError` passes through, aborts become `CANCELLED`
 * or `TIMEOUT`, CQS violations keep their message, everything else is `INTERNAL`.
 *
 * @example
 * ```ts
 * import { toAppError } from "./errors.ts";
 * const e = toAppError(new DOMException("slow", "TimeoutError"));
 * console.assert(e.code === "TIMEOUT");
 * ```
 */
export function toAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  if (e instanceof DOMException) {
    if (e.name === "TimeoutError") {
      return new AppError("TIMEOUT", "operation timed out", { cause: e });
    }
    if (e.name === "AbortError") {
      return new AppError("CANCELLED", "operation cancelled", { cause: e });
    }
  }
  if (e instanceof CqsViolationError) {
    return new AppError("INTERNAL", e.message, { cause: e });
  }
  return new AppError("INTERNAL", "internal error", { cause: e });
}

function logFailure(
  ctx: KrepisContext,
  name: string,
  e: unknown,
  mapped: AppError,
) {
  if (mapped.status >= 500 && mapped.code !== "TIMEOUT") {
    ctx.log.error("handler threw", { handler: name, error: e });
  }
}

/**
 * Creates the `errors` behavior. Place it first (outermost).
 *
 * @example
 * ```ts
 * import { errors, timeout, tracing } from "@krepis/core/pipeline";
 * const behaviors = [errors(), tracing(), timeout({ ms: 5_000 })];
 * console.assert(behaviors[0].name === "errors");
 * ```
 */
export function errors(): Behavior {
  // A result that is already there passes straight through; one still pending gets a
  // rejection handler, which runs only when something threw.
  return defineStepBehavior("errors", (ctx, handler, input, next) => {
    let result;
    try {
      result = next(ctx, input);
    } catch (e) {
      return mapError(ctx, handler.name, e);
    }
    // The rejection handler is made only for an answer still to come.
    return result instanceof Pending
      ? result.layer(new Mapped(ctx, handler.name))
      : result;
  });
}

/** The `errors` layer of an answer still pending: a value passes, a throw is mapped. */
class Mapped implements Layer {
  constructor(readonly ctx: KrepisContext, readonly name: string) {}

  /** Passes a value through. */
  ok(value: unknown): unknown {
    return value;
  }

  /** Maps a thrown value to an error result. */
  err(e: unknown): Result<never> {
    return mapError(this.ctx, this.name, e);
  }
}

function mapError(ctx: KrepisContext, name: string, e: unknown) {
  const mapped = toAppError(e);
  logFailure(ctx, name, e, mapped);
  return err(mapped);
}
