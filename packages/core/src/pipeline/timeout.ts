/**
 * The `timeout` behavior: bounds an operation by its handler's (or the default) limit and the
 * context's deadline, and links cancellation. The handler receives a context whose `signal`
 * aborts on timeout or when the caller's signal aborts (e.g. the HTTP client disconnected);
 * the caller gets `TIMEOUT` at once even if the handler ignores its signal, and `CANCELLED`
 * at once once the handler has looked at its signal (the link to the caller's signal is made
 * on that first read, so operations that never watch cancellation never pay for it).
 *
 * @module
 */

import { AppError } from "../result/app_error.ts";
import { err, type Result } from "../result/result.ts";
import { type Behavior, defineBehavior } from "./behavior.ts";
import { DeadlineWatch, type Watched } from "./deadline_watch.ts";

/**
 * Options of {@linkcode timeout}.
 *
 * @example
 * ```ts
 * import { timeout, type TimeoutOptions } from "@krepis/core/pipeline";
 * const options: TimeoutOptions = { ms: 5_000 };
 * console.assert(timeout(options).name === "timeout");
 * ```
 */
export interface TimeoutOptions {
  /** Default limit per operation in milliseconds (default 30 000). */
  ms?: number;
}

function abortResult(signal: AbortSignal): Result<never> {
  const reason = signal.reason;
  return reason instanceof DOMException && reason.name === "TimeoutError"
    ? err(new AppError("TIMEOUT", "operation timed out", { cause: reason }))
    : err(new AppError("CANCELLED", "operation cancelled", { cause: reason }));
}

/**
 * Creates the `timeout` behavior. Each instance owns one {@linkcode DeadlineWatch}.
 *
 * @example
 * ```ts
 * import { timeout } from "@krepis/core/pipeline";
 * const b = timeout({ ms: 2_000 });
 * console.assert(b.name === "timeout");
 * ```
 */
export function timeout(options: TimeoutOptions = {}): Behavior {
  const defaultMs = options.ms ?? 30_000;
  const watch = new DeadlineWatch();
  return defineBehavior("timeout", (ctx, handler, input, next) => {
    const now = Date.now();
    const deadline = Math.min(
      ctx.deadline,
      now + (handler.timeoutMs ?? defaultMs),
    );
    if (deadline <= now) {
      return Promise.resolve(
        err(new AppError("TIMEOUT", "deadline already passed")),
      );
    }
    return new Promise<Result<unknown>>((resolve, reject) => {
      // The handler's signal is made on its first read, and only then linked to the
      // caller's: reading the caller's signal can be costly (see requestContext), and a
      // handler that never looks at its signal has nothing to stop early.
      let controller: AbortController | undefined;
      let outer: AbortSignal | undefined;
      let settled = false;
      const stop = (reason: unknown) => {
        if (settled) return;
        cleanup();
        (controller ??= new AbortController()).abort(reason);
        resolve(abortResult(controller.signal));
      };
      const forward = () => stop(outer!.reason);
      const watched: Watched = {
        deadline,
        expire: () =>
          stop(new DOMException(`"${handler.name}" timed out`, "TimeoutError")),
      };
      const cleanup = () => {
        settled = true;
        watch.delete(watched);
        outer?.removeEventListener("abort", forward);
      };
      const signal = () => {
        if (controller) return controller.signal;
        controller = new AbortController();
        if (!settled) {
          outer = ctx.signal;
          if (outer.aborted) stop(outer.reason);
          else outer.addEventListener("abort", forward, { once: true });
        }
        return controller.signal;
      };
      if (deadline !== Infinity) watch.add(watched);
      next(ctx.derive({ deadline, signal }), input).then((result) => {
        cleanup();
        resolve(result);
      }, (error) => {
        cleanup();
        reject(error);
      });
    });
  });
}
