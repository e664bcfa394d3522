/**
 * One timer for many deadlines. Arming a timer per operation costs ~1.5 µs; instead the
 * watch keeps a single unref'd timer set to the earliest pending deadline and re-arms it only
 * when an operation with an earlier deadline arrives. Finished operations just leave the list
 * (a doubly linked list through the operations themselves: a `Set` costs an identity hash
 * per new operation, ~0.1 µs); a timer that fires with nothing expired re-arms for the next
 * deadline or goes idle.
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
  /** The watch's links while the operation is watched; set by the watch only. */
  watchPrev?: Watched | undefined;
  /** See `watchPrev`. */
  watchNext?: Watched | undefined;
  /** Whether the operation is in a watch's list; set by the watch only. */
  watched?: boolean;
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
  #head: Watched | undefined;
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  /** Starts watching `op` (an operation already watched is left as it is). */
  add(op: Watched): void {
    if (op.watched) return;
    op.watched = true;
    op.watchPrev = undefined;
    op.watchNext = this.#head;
    if (this.#head !== undefined) this.#head.watchPrev = op;
    this.#head = op;
    this.#size++;
    if (op.deadline < this.#timerAt) this.#arm(op.deadline);
    else if (this.#size === 1) Deno.refTimer(this.#timer!);
  }

  /** Stops watching `op` (it finished in time). */
  delete(op: Watched): void {
    if (!this.#unlink(op)) return;
    if (this.#size === 0 && this.#timer !== undefined) {
      Deno.unrefTimer(this.#timer);
    }
  }

  /** Number of operations being watched. */
  get size(): number {
    return this.#size;
  }

  #unlink(op: Watched): boolean {
    if (!op.watched) return false;
    op.watched = false;
    const prev = op.watchPrev;
    const next = op.watchNext;
    if (prev !== undefined) prev.watchNext = next;
    else this.#head = next;
    if (next !== undefined) next.watchPrev = prev;
    op.watchPrev = op.watchNext = undefined;
    this.#size--;
    return true;
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
    // Collected first: an expire() callback may end or add other operations.
    const due: Watched[] = [];
    for (let op = this.#head; op !== undefined; op = op.watchNext) {
      if (op.deadline <= now) due.push(op);
      else if (op.deadline < next) next = op.deadline;
    }
    for (const op of due) if (this.#unlink(op)) op.expire();
    if (next !== Infinity) this.#arm(next);
  }
}
