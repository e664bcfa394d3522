/**
 * The dependency container: resolves ports to adapter instances, caching singletons per app
 * and scoped instances per operation. Wiring problems are caught earlier by `createApp`; the
 * checks here are the run-time backstop for factories that resolve undeclared ports.
 *
 * @module
 */

import type { KrepisContext } from "../context/context.ts";
import type { Port } from "./port.ts";
import { Disposer } from "./disposer.ts";
import type { AdapterBinding, Resolver } from "./provide.ts";

/** A binding with its slot in the singleton table and in every scope. */
export interface ContainerEntry {
  /** The binding. */
  readonly binding: AdapterBinding;
  /** Slot number. */
  readonly index: number;
}

const CREATING: unique symbol = Symbol("creating");

/**
 * Raised when a port cannot be resolved (missing adapter, cycle, captive dependency).
 *
 * @example
 * ```ts
 * import { createContext, definePort, type KrepisContext } from "@krepis/core";
 * import { Container, ResolutionError } from "./container.ts";
 * const Missing = definePort<{ ping(ctx: KrepisContext): void }>("missing", { writes: [] });
 * try {
 *   new Container([], createContext()).get(Missing);
 * } catch (e) {
 *   console.assert(e instanceof ResolutionError);
 * }
 * ```
 */
export class ResolutionError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ResolutionError";
  }
}

/**
 * Resolves ports for one app. Create one per app; never share instances through globals.
 *
 * @example
 * ```ts
 * import { createContext, definePort, type KrepisContext, provide } from "@krepis/core";
 * import { Container } from "./container.ts";
 * interface Clock { now(ctx: KrepisContext): number }
 * const ClockPort = definePort<Clock>("clock", { writes: [] });
 * const c = new Container([provide(ClockPort, { now: () => 7 })], createContext());
 * console.assert(c.get(ClockPort).now(createContext()) === 7);
 * ```
 */
export class Container {
  #entries = new Map<Port, ContainerEntry>();
  #singletons: unknown[];
  #root: SingletonResolver;
  #disposer = new Disposer();

  /** Indexes `bindings`; `root` is the context singleton factories receive. */
  constructor(bindings: Iterable<AdapterBinding>, root: KrepisContext) {
    let index = 0;
    for (const binding of bindings) {
      this.#entries.set(binding.port, { binding, index: index++ });
    }
    this.#singletons = new Array(index);
    this.#root = new SingletonResolver(this, root);
  }

  /** Whether an adapter is bound to `port`. */
  has(port: Port): boolean {
    return this.#entries.has(port);
  }

  /** The lifetime of the adapter bound to `port`, if any. */
  lifetimeOf(port: Port): AdapterBinding["lifetime"] | undefined {
    return this.#entries.get(port)?.binding.lifetime;
  }

  /** Resolves a singleton port (throws for scoped or unbound ports). */
  get<T extends object>(port: Port<T>): T {
    return this.#root.get(port);
  }

  /**
   * Disposes the singletons built by factories (newest first) and forgets them, so a later
   * resolve builds fresh ones. Call it when the app shuts down.
   */
  async dispose(): Promise<void> {
    this.#singletons.fill(undefined);
    await this.#disposer.dispose();
  }

  /** Opens a scope for one operation. */
  scope(ctx: KrepisContext): Scope {
    return new Scope(this, ctx);
  }

  /** @internal Looks up the entry of a port or throws a clear error. */
  entry(port: Port, neededBy: string): ContainerEntry {
    const entry = this.#entries.get(port);
    if (!entry) {
      throw new ResolutionError(
        `no adapter provided for port "${port?.name}" (needed by ${neededBy})`,
      );
    }
    return entry;
  }

  /** @internal Returns (creating once) the singleton instance of `entry`. */
  singleton(entry: ContainerEntry): unknown {
    const cached = this.#singletons[entry.index];
    if (cached !== undefined && cached !== CREATING) return cached;
    if (cached === CREATING) {
      throw new ResolutionError(
        `dependency cycle while creating port "${entry.binding.port.name}"`,
      );
    }
    this.#singletons[entry.index] = CREATING;
    try {
      const instance = entry.binding.create(this.#root);
      this.#singletons[entry.index] = instance;
      // Only what the container built is its to dispose; fixed instances belong to the caller.
      if (!entry.binding.fixed) this.#disposer.track(instance);
      return instance;
    } catch (e) {
      this.#singletons[entry.index] = undefined;
      throw e;
    }
  }
}

class SingletonResolver implements Resolver {
  readonly ctx: KrepisContext;
  #container: Container;

  constructor(container: Container, ctx: KrepisContext) {
    this.#container = container;
    this.ctx = ctx;
  }

  get<U extends object>(port: Port<U>): U {
    const entry = this.#container.entry(port, "a singleton");
    if (entry.binding.lifetime === "scoped") {
      throw new ResolutionError(
        `port "${port.name}" is scoped and cannot be resolved outside an operation scope`,
      );
    }
    return this.#container.singleton(entry) as U;
  }
}

/**
 * The instances of one operation: scoped adapters are created once per scope; singletons
 * come from the container. Dispose the scope when the operation ends.
 *
 * @example
 * ```ts
 * import { createContext, definePort, type KrepisContext, provide } from "@krepis/core";
 * import { Container } from "./container.ts";
 * interface UnitOfWork { id(ctx: KrepisContext): number }
 * const Uow = definePort<UnitOfWork>("uow", { writes: [] });
 * let n = 0;
 * const c = new Container([
 *   provide(Uow, () => { const id = ++n; return { id: () => id }; }, { lifetime: "scoped" }),
 * ], createContext());
 * const ctx = createContext();
 * const scope = c.scope(ctx);
 * console.assert(scope.get(Uow) === scope.get(Uow) && c.scope(ctx).get(Uow).id(ctx) === 2);
 * ```
 */
export class Scope implements Resolver {
  /** The operation's context, given to scoped factories. */
  readonly ctx: KrepisContext;
  #container: Container;
  #instances: unknown[] | undefined;
  #disposer: Disposer | undefined;

  /** Use {@linkcode Container.scope}. */
  constructor(container: Container, ctx: KrepisContext) {
    this.#container = container;
    this.ctx = ctx;
  }

  /** Resolves `port` within this scope. */
  get<U extends object>(port: Port<U>): U {
    return this.resolve(this.#container.entry(port, "a scoped factory")) as U;
  }

  /** @internal Resolves a looked-up entry. */
  resolve(entry: ContainerEntry): unknown {
    if (entry.binding.lifetime === "singleton") {
      return this.#container.singleton(entry);
    }
    const instances = this.#instances ??= [];
    const cached = instances[entry.index];
    if (cached === CREATING) {
      throw new ResolutionError(
        `dependency cycle while creating port "${entry.binding.port.name}"`,
      );
    }
    if (cached !== undefined) return cached;
    instances[entry.index] = CREATING;
    let instance: unknown;
    try {
      instance = entry.binding.create(this);
    } catch (e) {
      instances[entry.index] = undefined;
      throw e;
    }
    instances[entry.index] = instance;
    (this.#disposer ??= new Disposer()).track(instance);
    return instance;
  }

  /** Disposes scoped instances that implement `Symbol.dispose`/`Symbol.asyncDispose`, newest first. */
  dispose(): Promise<void> {
    return this.#disposer?.dispose() ?? Promise.resolve();
  }

  /** Whether the scope holds instances to dispose. */
  get needsDispose(): boolean {
    return this.#disposer?.pending ?? false;
  }
}
