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
import type { KrepisContext } from "../context/context.ts";
import { err, type Result } from "../result/result.ts";
import { type Behavior, defineStepBehavior } from "./behavior.ts";
import { type Layer, Pending } from "./pending.ts";
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
 * One operation under a deadline: the caller gets the handler's result, or `TIMEOUT` or
 * `CANCELLED` first. A class rather than a bundle of closures: it is made for every
 * operation that answers later or reads its signal, and one object with prototype methods
 * (also its `Pending`'s layer) is the cheapest shape. An operation that answers
 * synchronously is never watched.
 */
class Timed implements Watched, Layer {
  readonly deadline: number;
  #name: string;
  #watch: DeadlineWatch;
  #caller: KrepisContext;
  #controller: AbortController | undefined;
  /** Whether this listens for the caller's abort (see `signal`). */
  #watching = false;
  #settled = false;
  /** The handler's pending answer, and where this behavior sits in it. */
  #pending: Pending | undefined = undefined;
  #depth = 0;
  /** The `TIMEOUT`/`CANCELLED` result, when stopped while the handler still ran. */
  #stopped: Result<never> | undefined = undefined;
  /** Links of the deadline watch (declared so every Timed has one shape). */
  watchPrev: Watched | undefined = undefined;
  /** See `watchPrev`. */
  watchNext: Watched | undefined = undefined;
  /** See `watchPrev`. */
  watched = false;

  constructor(
    deadline: number,
    name: string,
    watch: DeadlineWatch,
    caller: KrepisContext,
  ) {
    this.deadline = deadline;
    this.#name = name;
    this.#watch = watch;
    this.#caller = caller;
  }

  /** Called by the watch when the deadline passes. */
  expire(): void {
    this.#stop(new DOMException(`"${this.#name}" timed out`, "TimeoutError"));
  }

  /** The caller's signal aborted (this object is its event listener). */
  handleEvent(): void {
    this.#stop(this.#caller.signal.reason);
  }

  /** The handler answered synchronously: its result, unless it was stopped meanwhile. */
  settleNow(result: Result<unknown>): Result<unknown> {
    if (this.#settled) return this.#stopped!;
    this.#cleanup();
    return result;
  }

  /** The handler threw synchronously: rethrown, unless it was stopped meanwhile. */
  failNow(error: unknown): Result<unknown> {
    if (this.#settled) return this.#stopped!;
    this.#cleanup();
    throw error;
  }

  /**
   * The handler's answer is pending: watches the deadline; a stop settles the answer from
   * here outwards, and the handler's own outcome (when it comes first) ends the watch.
   */
  follow(pending: Pending): Pending {
    pending.layer(this);
    this.#pending = pending;
    this.#depth = pending.depth;
    if (this.#settled) pending.settleFrom(this.#depth, this.#stopped);
    else if (this.deadline !== Infinity) this.#watch.add(this);
    return pending;
  }

  /** The handler's own answer came first (as a layer of its `Pending`). */
  ok(result: unknown): unknown {
    this.#cleanup();
    return result;
  }

  /** The handler failed first (as a layer of its `Pending`). */
  err(error: unknown): never {
    this.#cleanup();
    throw error;
  }

  #cleanup(): void {
    this.#settled = true;
    this.#watch.delete(this);
    if (this.#watching) {
      this.#watching = false;
      this.#caller.unwatchAbort(this);
    }
  }

  #stop(reason: unknown): void {
    if (this.#settled) return;
    this.#cleanup();
    (this.#controller ??= new AbortController()).abort(reason);
    const result = this.#stopped = abortResult(this.#controller.signal);
    this.#pending?.settleFrom(this.#depth, result);
  }

  /**
   * The handler's signal, made on its first read and only then linked to the caller's:
   * reading the caller's signal can be costly (see requestContext), and a handler that
   * never looks at its signal has nothing to stop early. The link is a watch, not a read:
   * the kernel's request then makes no signal of its own.
   */
  signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    this.#controller = new AbortController();
    if (!this.#settled) {
      // Removed again by #cleanup.
      if (this.#caller.watchAbort(this)) this.#watching = true;
      else this.#stop(this.#caller.signal.reason);
    }
    return this.#controller.signal;
  }
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
  return defineStepBehavior("timeout", (ctx, handler, input, next) => {
    const now = Date.now();
    const deadline = Math.min(
      ctx.deadline,
      now + (handler.timeoutMs ?? defaultMs),
    );
    if (deadline <= now) {
      return err(new AppError("TIMEOUT", "deadline already passed"));
    }
    // The operation's record is made when the handler reads its signal or answers later:
    // a handler that answers at once without looking at its signal needs none. (It is
    // made in the signal's closure, not as a closure of Timed's own: one made in Timed's
    // constructor got V8 to keep these short-lived objects long enough to be promoted,
    // which tripled the old-space collections of a request loop.)
    let op: Timed | undefined;
    let result;
    try {
      result = next(
        ctx.derive({
          deadline,
          signal: () =>
            (op ??= new Timed(deadline, handler.name, watch, ctx)).signal(),
        }),
        input,
      );
    } catch (e) {
      if (op) return op.failNow(e);
      throw e;
    }
    // No timer can fire while the handler runs synchronously: only an answer still
    // pending is watched.
    if (result instanceof Pending) {
      return (op ??= new Timed(deadline, handler.name, watch, ctx)).follow(
        result,
      );
    }
    return op ? op.settleNow(result) : result;
  });
}
