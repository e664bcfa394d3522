/**
 * The `tracing` behavior: opens a child span named after the handler and logs one record per
 * operation with its outcome and duration.
 *
 * @module
 */

import type { Logger, LogLevel } from "../context/logger.ts";
import type { KrepisContext } from "../context/context.ts";
import type { AnyHandler } from "../cqs/handler.ts";
import type { Result } from "../result/result.ts";
import { type Behavior, defineStepBehavior, type Step } from "./behavior.ts";
import { Pending } from "./pending.ts";

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
    if (!span.logs(level) && !span.logs("error")) return next(span, input);
    return traced(span, handler, input, next, level);
  });
}

function traced(
  span: KrepisContext,
  handler: AnyHandler,
  input: unknown,
  next: Step,
  level: LogLevel,
): Result<unknown> | Pending {
  const log = span.log;
  const start = performance.now();
  const threw = (e: unknown): never => {
    // Only when `errors` is not outside this behavior: record the span, then rethrow.
    log.error("operation threw", {
      kind: handler.kind,
      durationMs: performance.now() - start,
      error: e,
    });
    throw e;
  };
  const done = (result: unknown) => {
    record(log, handler, level, start, result as Result<unknown>);
    return result;
  };
  let result;
  try {
    result = next(span, input);
  } catch (e) {
    return threw(e);
  }
  return result instanceof Pending
    ? result.map(done, threw)
    : done(result) as Result<unknown>;
}

function record(
  log: Logger,
  handler: AnyHandler,
  level: LogLevel,
  start: number,
  result: Result<unknown>,
): void {
  if (result.ok) {
    if (log.enabled(level)) {
      log[level]("operation completed", {
        kind: handler.kind,
        durationMs: performance.now() - start,
      });
    }
  } else {
    const e = result.error;
    const failLevel = e.status >= 500 ? "error" : "warn";
    if (log.enabled(failLevel)) {
      log[failLevel]("operation failed", {
        kind: handler.kind,
        durationMs: performance.now() - start,
        code: e.code,
        error: e.message,
      });
    }
  }
}
