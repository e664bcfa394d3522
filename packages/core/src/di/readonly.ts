/**
 * Read-only views of adapters, given to queries so CQS holds at run time: calling a method
 * the port declared as a write throws {@linkcode CqsViolationError} naming the query and the
 * method, and assigning a property throws too.
 *
 * @module
 */

import type { Port } from "./port.ts";

/**
 * Raised when a query calls a write method of a port or mutates an adapter.
 *
 * @example
 * ```ts
 * import { CqsViolationError, createContext, definePort, type KrepisContext } from "@krepis/core";
 * import { readOnlyView } from "./readonly.ts";
 * const Store = definePort<{ save(ctx: KrepisContext): void }>("store", { writes: ["save"] });
 * try {
 *   readOnlyView({ save() {} }, Store, "listThings").save(createContext());
 * } catch (e) {
 *   console.assert(e instanceof CqsViolationError && e.method === "save");
 * }
 * ```
 */
export class CqsViolationError extends Error {
  /** The query that attempted the write. */
  readonly query: string;
  /** The port whose write method was called. */
  readonly port: string;
  /** The write method (or property) involved. */
  readonly method: string;

  /** Creates the error with a message naming query, port and method. */
  constructor(query: string, port: string, method: string, what = "called") {
    super(
      `CQS violation: query "${query}" ${what} ${
        what === "called" ? "write method" : "property"
      } "${method}" of port "${port}"; ` +
        `queries get read-only ports — move the write into a command`,
    );
    this.name = "CqsViolationError";
    this.query = query;
    this.port = port;
    this.method = method;
  }
}

/**
 * Wraps `impl` so that the port's write methods throw and properties cannot be assigned.
 * Read methods run on the real instance (so `#private` fields keep working).
 *
 * @example
 * ```ts
 * import { createContext, definePort, type KrepisContext } from "@krepis/core";
 * import { readOnlyView } from "./readonly.ts";
 * interface Store { get(ctx: KrepisContext): number; set(ctx: KrepisContext, n: number): void }
 * const StorePort = definePort<Store>("store", { writes: ["set"] });
 * let n = 1;
 * const store: Store = { get: () => n, set: (_ctx, v) => { n = v; } };
 * const view = readOnlyView(store, StorePort, "show");
 * const ctx = createContext();
 * console.assert(view.get(ctx) === 1);
 * try { view.set(ctx, 2); } catch (e) { console.assert((e as Error).message.includes('"set"')); }
 * ```
 */
export function readOnlyView<T extends object>(
  impl: T,
  port: Port<T>,
  query: string,
): T {
  const thrower = (key: string) => () => {
    throw new CqsViolationError(query, port.name, key);
  };
  // Keys found later (added to the adapter after the view was made) are looked up here.
  const bound = new Map<PropertyKey, unknown>();
  const late = new Proxy(impl, {
    get(target, key) {
      const hit = bound.get(key);
      if (hit !== undefined) return hit;
      let value: unknown;
      if (typeof key === "string" && port.writes.has(key)) {
        value = thrower(key);
      } else {
        value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        value = (value as (...a: unknown[]) => unknown).bind(target);
      }
      bound.set(key, value);
      return value;
    },
  });
  // Built once per view (views are made at start-up for singletons): the methods the
  // adapter has now, bound, and throwers for the write methods, as plain properties, so a
  // call does not run a `get` trap; other properties read through to the adapter.
  const known = Object.create(late) as Record<PropertyKey, unknown>;
  for (const key of port.writes) {
    Object.defineProperty(known, key, { value: thrower(key), writable: true });
  }
  for (
    let o: object | null = impl;
    o !== null && o !== Object.prototype;
    o = Object.getPrototypeOf(o)
  ) {
    for (const key of Reflect.ownKeys(o)) {
      if (key === "constructor" || Object.hasOwn(known, key)) continue;
      const desc = Object.getOwnPropertyDescriptor(o, key)!;
      if (typeof desc.value === "function") {
        const method = (desc.value as (...a: unknown[]) => unknown).bind(impl);
        Object.defineProperty(known, key, { value: method, writable: true });
      } else {
        Object.defineProperty(known, key, {
          get: () => Reflect.get(impl, key, impl),
        });
      }
    }
  }
  // The outer proxy has no `get` trap (reads go straight to `known`); it only refuses
  // changes.
  return new Proxy(known, {
    set(_target, key) {
      throw new CqsViolationError(query, port.name, String(key), "assigned");
    },
    defineProperty(_target, key) {
      throw new CqsViolationError(query, port.name, String(key), "defined");
    },
    deleteProperty(_target, key) {
      throw new CqsViolationError(query, port.name, String(key), "deleted");
    },
  }) as T;
}
