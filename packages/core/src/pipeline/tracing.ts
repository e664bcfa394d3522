/**
 * The `tracing` behavior: opens a child span named after the handler and logs one record per
 * operation with its outcome and duration.
 *
 * @module
 */

import type { LogLevel } from "../context/logger.ts";
import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { Result } from "../result/result.ts";
import { type Behavior, defineStepBehavior, type Step } from "./behavior.ts";
import { type Layer, Pending } from "./pending.ts";

/**
 * Options of {@linkcode tracing}.
 *
 * @example
 * ```ts
 * import { tracing, type TracingOptions } from "@krepis/core/pipeline";
 * const options: TracingOptions = { level: "debug" };
 * console.assert(tracing(options).name === "tracing");
 * ```
 */
export interface TracingOptions {
  /** Level of the per-operation record (default `info`; failures use `warn` or `error`). */
  level?: LogLevel;
}

/**
 * Creates the `tracing` behavior.
 *
 * @example
 * ```ts
 * import { tracing } from "@krepis/core/pipeline";
 * const quiet = tracing({ level: "debug" });
 * console.assert(quiet.name === "tracing");
 * ```
 */
export function tracing(options: TracingOptions = {}): Behavior {
  const level = options.level ?? "info";
  return defineStepBehavior("tracing", (ctx, handler, input, next) => {
    const span = ctx.child(handler.name);
    // A sink that takes neither `level` nor `error` (the most a failure logs at) gets no
    // record from here, so neither the clock nor the span's logger is made.
    if (span.logs(level)) {
      return traced(span, handler, input, next, level, true);
    }
    if (!span.logs("error")) return next(span, input);
    return traced(span, handler, input, next, level, false);
  });
}

/** The high-resolution clock (≈110 ns a read here) or the wall clock (≈50 ns), in ms. */
const preciseNow = () => performance.now();

function traced(
  span: KrepisContext,
  handler: AnyHandler,
  input: unknown,
  next: Step,
  level: LogLevel,
  everyOutcome: boolean,
): Result<unknown> | Pending {
  // Only failures are recorded when `level` is off: their duration is then taken from the
  // wall clock, to the millisecond, which is half the cost of the high-resolution one on
  // a path every operation takes. The span's logger is made when a record is written.
  const now = everyOutcome ? preciseNow : Date.now;
  const op = new Traced(span, handler, level, now, now());
  let result;
  try {
    result = next(span, input);
  } catch (e) {
    return op.err(e);
  }
  return result instanceof Pending ? result.layer(op) : op.ok(result);
}

/** One traced operation; the layer of its answer when that is still pending. */
class Traced implements Layer {
  constructor(
    readonly span: KrepisContext,
    readonly handler: AnyHandler,
    readonly level: LogLevel,
    readonly now: () => number,
    readonly start: number,
  ) {}

  /** Records the outcome. */
  ok<R>(result: R): R {
    record(
      this.span,
      this.handler,
      this.level,
      this.now,
      this.start,
      result as Result<unknown>,
    );
    return result;
  }

  /** Only when `errors` is not outside this behavior: records the span, then rethrows. */
  err(e: unknown): never {
    this.span.log.error("operation threw", {
      kind: this.handler.kind,
      durationMs: this.now() - this.start,
      error: e,
    });
    throw e;
  }
}

function record(
  span: KrepisContext,
  handler: AnyHandler,
  level: LogLevel,
  now: () => number,
  start: number,
  result: Result<unknown>,
): void {
  if (result.ok) {
    if (span.logs(level)) {
      span.log[level]("operation completed", {
        kind: handler.kind,
        durationMs: now() - start,
      });
    }
  } else {
    const e = result.error;
    const failLevel = e.status >= 500 ? "error" : "warn";
    if (span.logs(failLevel)) {
      span.log[failLevel]("operation failed", {
        kind: handler.kind,
        durationMs: now() - start,
        code: e.code,
        error: e.message,
      });
    }
  }
}
