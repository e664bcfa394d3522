/**
 * One timer for many deadlines. Arming a timer per operation costs ~1.5 µs; instead the
 * watch keeps a single unref'd timer set to the earliest pending deadline and re-arms it only
 * when an operation with an earlier deadline arrives. Finished operations just leave the set;
 * a timer that fires with nothing expired re-arms for the next deadline or goes idle.
 *
 * The timer keeps the process alive only while operations are pending (it is ref'd when the
 * first one arrives and unref'd when the last one leaves), so an idle app never blocks exit.
 *
 * @module
 */

/**
 * An operation under watch.
 *
 * @example
 * ```ts
 * import { DeadlineWatch, type Watched } from "./deadline_watch.ts";
 * const op: Watched = { deadline: Date.now() + 60_000, expire: () => console.log("late") };
 * const watch = new DeadlineWatch();
 * watch.add(op);
 * watch.delete(op);
 * ```
 */
export interface Watched {
  /** Absolute deadline in epoch milliseconds. */
  readonly deadline: number;
  /** Called once when the deadline passes while the operation is still watched. */
  expire(): void;
}

const MAX_DELAY = 2 ** 31 - 1;

/**
 * Tracks deadlines of pending operations with a single timer.
 *
 * @example
 * ```ts
 * import { DeadlineWatch } from "./deadline_watch.ts";
 * const watch = new DeadlineWatch();
 * const expired = Promise.withResolvers<void>();
 * watch.add({ deadline: Date.now() + 5, expire: () => expired.resolve() });
 * await expired.promise;
 * ```
 */
export class DeadlineWatch {
  #pending = new Set<Watched>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  /** Starts watching `op`. */
  add(op: Watched): void {
    const pending = this.#pending;
    pending.add(op);
    if (op.deadline < this.#timerAt) this.#arm(op.deadline);
    else if (pending.size === 1) Deno.refTimer(this.#timer!);
  }

  /** Stops watching `op` (it finished in time). */
  delete(op: Watched): void {
    const pending = this.#pending;
    if (pending.delete(op) && pending.size === 0 && this.#timer !== undefined) {
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Number of operations being watched. */
  get size(): number {
    return this.#pending.size;
  }

  #arm(at: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    const delay = Math.min(MAX_DELAY, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#check(), delay);
  }

  #check(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const op of this.#pending) {
      if (op.deadline <= now) {
        this.#pending.delete(op);
        op.expire();
      } else if (op.deadline < next) {
        next = op.deadline;
      }
    }
    if (next !== Infinity) this.#arm(next);
  }
}
