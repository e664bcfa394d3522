/**
 * `Pending`: the answer of a pipeline whose handler has not settled yet. Each layer says
 * what it does with the outcome (`map`, as `then(onOk, onErr)` would), and all of them run
 * in one turn when the handler settles — not one promise turn per layer. A layer that can
 * end the operation early (the timeout behavior) settles it from its own position, so only
 * the layers outside it see the early outcome, as with a chain of promises.
 *
 * @module
 */

import type { Result } from "../result/result.ts";

/** What a layer does with a value (or an error) coming up from the layers inside it. */
type Map = ((value: unknown) => unknown) | undefined;

/**
 * A layer as one object (see {@linkcode Pending.layer}): a behavior that keeps a record per
 * operation anyway adds that, instead of making two closures over it.
 *
 * @example
 * ```ts
 * import { type Layer, Pending } from "./pending.ts";
 * const double: Layer = { ok: (n) => (n as number) * 2, err: () => 0 };
 * console.assert((await new Pending(Promise.resolve(2)).layer(double).promise()) === 4);
 * ```
 */
export interface Layer {
  /** What a value from inside becomes (a throw passes an error outwards). */
  ok(value: unknown): unknown;
  /** What an error from inside becomes (a throw passes an error outwards). */
  err(error: unknown): unknown;
}

/** Marks the pair slot of a `Layer` in `#maps`. */
const LAYER = Symbol("layer");

/**
 * A pipeline answer still to come. Layers call {@linkcode Pending.map} while the pipeline
 * is built up synchronously; the outermost caller then asks for {@linkcode Pending.promise}
 * once, which starts following the handler.
 *
 * @example
 * ```ts
 * import { Pending } from "./pending.ts";
 * const p = new Pending(Promise.resolve(1))
 *   .map((n) => (n as number) + 1)
 *   .map(undefined, () => 0);
 * console.assert((await p.promise()) === 2);
 * ```
 */
export class Pending implements PromiseLike<Result<unknown>> {
  #source: PromiseLike<unknown>;
  /**
   * Pairs of maps, innermost first: value at `2i`, error at `2i + 1`; or a `Layer` at `2i`
   * and `LAYER` at `2i + 1`.
   */
  #maps: (Map | Layer | typeof LAYER)[] = [];
  #settled = false;
  #promise: Promise<unknown> | undefined = undefined;
  #resolve: ((value: unknown) => void) | undefined = undefined;
  #reject: ((error: unknown) => void) | undefined = undefined;
  /** Who gets the final outcome instead of `#resolve`/`#reject` (see `to`). */
  #target: Layer | undefined = undefined;
  #followed = false;
  /** A settlement asked for before `promise()`: applied once every layer is in. */
  #early: [from: number, value: unknown] | undefined = undefined;

  /** Follows `source` (from the first call of {@linkcode Pending.promise}). */
  constructor(source: PromiseLike<unknown>) {
    this.#source = source;
  }

  /** Adds the next layer outwards: `onOk` for a value, `onErr` for an error. */
  map(
    onOk?: (value: unknown) => unknown,
    onErr?: (e: unknown) => unknown,
  ): this {
    this.#maps.push(onOk, onErr);
    return this;
  }

  /** Adds the next layer outwards as one object (as {@linkcode map} with its two methods). */
  layer(layer: Layer): this {
    this.#maps.push(layer, LAYER);
    return this;
  }

  /** The position just outside the layers added so far (for {@linkcode settleFrom}). */
  get depth(): number {
    return this.#maps.length;
  }

  /**
   * Ends the operation now with `value`, as the layers from `depth` outwards see it; the
   * handler's own outcome is then ignored. The first settlement wins.
   */
  settleFrom(depth: number, value: unknown): void {
    if (!this.#followed) this.#early ??= [depth, value];
    else this.#settle(depth, true, value);
  }

  /** The final outcome. Call it once every layer is added. */
  promise(): Promise<unknown> {
    return this.#promise ??= new Promise((resolve, reject) =>
      this.into(resolve, reject)
    );
  }

  /**
   * Hands the final outcome to `resolve` or `reject` (instead of {@linkcode promise}: a
   * caller settling a promise of its own saves a turn). Call it once every layer is added,
   * and only once.
   */
  into(
    resolve: (value: unknown) => void,
    reject: (error: unknown) => void,
  ): void {
    if (this.#followed) throw new Error("a Pending is followed only once");
    this.#resolve = resolve;
    this.#reject = reject;
    this.#follow();
  }

  /**
   * Hands the final outcome to `target.ok` or `target.err` (as {@linkcode into} does to
   * its two functions): a caller that keeps an object per operation anyway (the kernel's
   * server) passes that instead of making two closures. `target`'s methods must not
   * throw. Call it once every layer is added, and only once.
   */
  to(target: Layer): void {
    if (this.#followed) throw new Error("a Pending is followed only once");
    this.#target = target;
    this.#follow();
  }

  #follow(): void {
    this.#followed = true;
    // Followed even after an early settlement, so a late rejection is handled.
    this.#source.then(
      (value) => this.#settle(0, true, value),
      (error) => this.#settle(0, false, error),
    );
    const early = this.#early;
    if (early) this.#settle(early[0], true, early[1]);
  }

  /**
   * Awaiting a `Pending` awaits its outcome, a pipeline's result (code that treats a step's
   * answer as a promise still works); the pipeline itself calls {@linkcode Pending.promise}.
   */
  then<A = Result<unknown>, B = never>(
    onOk?: ((value: Result<unknown>) => A | PromiseLike<A>) | null,
    onErr?: ((error: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return (this.promise() as Promise<Result<unknown>>).then(onOk, onErr);
  }

  #settle(from: number, ok: boolean, value: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    const maps = this.#maps;
    for (let i = from; i < maps.length; i += 2) {
      const first = maps[i];
      const second = maps[i + 1];
      try {
        if (second === LAYER) {
          value = ok ? (first as Layer).ok(value) : (first as Layer).err(value);
        } else {
          const map = (ok ? first : second) as Map;
          if (map === undefined) continue;
          value = map(value);
        }
        ok = true;
      } catch (e) {
        value = e;
        ok = false;
      }
    }
    const target = this.#target;
    if (target !== undefined) {
      if (ok) target.ok(value);
      else target.err(value);
    } else if (ok) this.#resolve!(value);
    else this.#reject!(value);
  }
}

/**
 * A step's answer as a promise (a plain value resolved, a `Pending` followed).
 *
 * @example
 * ```ts
 * import { Pending, settled } from "./pending.ts";
 * console.assert((await settled(1)) === 1);
 * console.assert((await settled(new Pending(Promise.resolve(2)))) === 2);
 * ```
 */
export function settled(value: unknown): Promise<unknown> {
  return value instanceof Pending ? value.promise() : Promise.resolve(value);
}
