/**
 * Adapter bindings: which implementation serves a port, and for how long an instance lives.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { Port } from "./port.ts";

/**
 * How long an adapter instance lives: one per app (`singleton`) or one per operation
 * (`scoped`, e.g. a unit of work bound to the request's context).
 *
 * @example
 * ```ts
 * import { definePort, type Lifetime, provide } from "@krepis/core";
 * const Uow = definePort<{ id: number }>("uow", { writes: [] });
 * const lifetime: Lifetime = "scoped";
 * console.assert(provide(Uow, () => ({ id: 1 }), { lifetime }).lifetime === "scoped");
 * ```
 */
export type Lifetime = "singleton" | "scoped";

/**
 * What a factory receives to build its instance.
 *
 * @example
 * ```ts
 * import { definePort, provide, type Resolver } from "@krepis/core";
 * const Clock = definePort<{ now(): number }>("clock", { writes: [] });
 * const Stamp = definePort<{ stamp(): string }>("stamp", { writes: [] });
 * const make = (r: Resolver) => ({ stamp: () => `${r.ctx.requestId}@${r.get(Clock).now()}` });
 * provide(Stamp, make, { lifetime: "scoped", deps: [Clock] });
 * ```
 */
export interface Resolver {
  /**
   * The context the instance is created for: the operation's context for a scoped adapter,
   * the app's root context for a singleton.
   */
  readonly ctx: KrepisContext;
  /** Resolves another port (declare it in `deps` so wiring is checked at start-up). */
  get<U extends object>(port: Port<U>): U;
}

/**
 * Builds an adapter instance.
 *
 * @example
 * ```ts
 * import { definePort, type Factory, provide } from "@krepis/core";
 * const Ids = definePort<{ next(): string }>("ids", { writes: [] });
 * const factory: Factory<{ next(): string }> = () => ({ next: () => crypto.randomUUID() });
 * provide(Ids, factory);
 * ```
 */
export type Factory<T> = (resolver: Resolver) => T;

/**
 * Options of {@linkcode provide}.
 *
 * @example
 * ```ts
 * import { definePort, provide, type ProvideOptions } from "@krepis/core";
 * const Db = definePort<{ query(sql: string): unknown[] }>("db", { writes: [] });
 * const Tx = definePort<{ commit(): void }>("tx", { writes: ["commit"] });
 * const options: ProvideOptions = { lifetime: "scoped", deps: [Db] };
 * provide(Tx, (r) => (r.get(Db), { commit() {} }), options);
 * ```
 */
export interface ProvideOptions {
  /** `singleton` (default) or `scoped`; a fixed instance is always a singleton. */
  lifetime?: Lifetime;
  /** Ports the factory resolves, checked at start-up (missing adapter, lifetime, cycle). */
  deps?: readonly Port[];
}

/**
 * The binding of one port to its adapter; pass it to `createApp({ adapters })`.
 *
 * @example
 * ```ts
 * import { type AdapterBinding, definePort, provide } from "@krepis/core";
 * const Clock = definePort<{ now(): number }>("clock", { writes: [] });
 * const binding: AdapterBinding<{ now(): number }> = provide(Clock, { now: () => 0 });
 * console.assert(binding.fixed && binding.port === Clock);
 * ```
 */
export interface AdapterBinding<T extends object = object> {
  /** The port served. */
  readonly port: Port<T>;
  /** The instance's lifetime. */
  readonly lifetime: Lifetime;
  /** Builds the instance. */
  readonly create: Factory<T>;
  /** Ports the factory declared it resolves. */
  readonly deps: readonly Port[];
  /** Whether the binding was given a fixed instance rather than a factory. */
  readonly fixed: boolean;
}

/**
 * Binds `port` to an instance or to a factory.
 *
 * @example
 * ```ts
 * import { definePort, provide } from "@krepis/core";
 * interface Clock { now(): number }
 * const ClockPort = definePort<Clock>("clock", { writes: [] });
 * const fixed = provide(ClockPort, { now: () => 0 });
 * const perRequest = provide(ClockPort, () => ({ now: Date.now }), { lifetime: "scoped" });
 * console.assert(fixed.lifetime === "singleton" && perRequest.lifetime === "scoped");
 * ```
 */
export function provide<T extends object>(
  port: Port<T>,
  impl: T | Factory<T>,
  options: ProvideOptions = {},
): AdapterBinding<T> {
  const fixed = typeof impl !== "function";
  return Object.freeze({
    port,
    lifetime: options.lifetime ?? "singleton",
    create: fixed ? () => impl : impl as Factory<T>,
    deps: options.deps ?? [],
    fixed,
  });
}
