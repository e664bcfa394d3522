/**
 * Collects disposable instances and disposes them newest first, once. Used by scopes (per
 * operation) and by the container (singletons, when the app closes).
 *
 * @module
 */

/**
 * A newest-first disposal list.
 *
 * @example
 * ```ts
 * import { Disposer } from "./disposer.ts";
 * const order: string[] = [];
 * const d = new Disposer();
 * d.track({ [Symbol.dispose]: () => order.push("a") });
 * d.track({ [Symbol.asyncDispose]: async () => { order.push("b"); } });
 * d.track({ notDisposable: true });
 * await d.dispose();
 * console.assert(order.join() === "b,a");
 * ```
 */
export class Disposer {
  #list: (Disposable | AsyncDisposable)[] | undefined;

  /** Remembers `instance` if it implements `Symbol.dispose` or `Symbol.asyncDispose`. */
  track(instance: unknown): void {
    if (
      typeof instance === "object" && instance !== null &&
      (Symbol.asyncDispose in instance || Symbol.dispose in instance)
    ) {
      (this.#list ??= []).push(instance as Disposable | AsyncDisposable);
    }
  }

  /** Whether anything is waiting to be disposed. */
  get pending(): boolean {
    return this.#list !== undefined;
  }

  /**
   * Disposes everything tracked, newest first. Every instance is disposed even when one
   * fails; the failures are rethrown together afterwards.
   */
  async dispose(): Promise<void> {
    const list = this.#list;
    if (!list) return;
    this.#list = undefined;
    const errors: unknown[] = [];
    for (let i = list.length - 1; i >= 0; i--) {
      const d = list[i];
      try {
        if (Symbol.asyncDispose in d) await d[Symbol.asyncDispose]();
        else (d as Disposable)[Symbol.dispose]();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        `${errors.length} instances failed to dispose`,
      );
    }
  }
}
