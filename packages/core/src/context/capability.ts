/**
 * Typed keys for capabilities attached to a context (a file system, the HTTP request, the
 * authenticated principal, ...). Attaching returns a new context; nothing is global.
 *
 * @module
 */

/**
 * A typed key naming one capability a context may carry.
 *
 * @example
 * ```ts
 * import { type Capability, createContext, defineCapability, type KrepisContext } from "@krepis/core";
 * interface Fs { read(ctx: KrepisContext, path: string): Promise<string> }
 * const FsCap: Capability<Fs> = defineCapability<Fs>("fs");
 * const ctx = createContext().with(FsCap, { read: () => Promise.resolve("data") });
 * console.assert((await ctx.use(FsCap).read(ctx, "a.txt")) === "data");
 * ```
 */
export interface Capability<T> {
  /** Human-readable name used in error messages. */
  readonly name: string;
  /** Carries the value type; never set at run time. */
  readonly __type?: T;
}

/**
 * Defines a capability key. Keys compare by identity, so two definitions with the same name
 * are different capabilities.
 *
 * @example
 * ```ts
 * import { createContext, defineCapability } from "@krepis/core";
 * const Clock = defineCapability<() => number>("clock");
 * const ctx = createContext().with(Clock, () => 42);
 * console.assert(ctx.use(Clock)() === 42);
 * ```
 */
export function defineCapability<T>(name: string): Capability<T> {
  return Object.freeze({ name }) as Capability<T>;
}

/**
 * One link of a context's immutable capability chain.
 *
 * @example
 * ```ts
 * import { defineCapability } from "@krepis/core";
 * import type { CapabilityLink } from "./capability.ts";
 * const key = defineCapability<number>("n");
 * const chain: CapabilityLink = { key, value: 1, next: undefined };
 * console.assert(chain.value === 1);
 * ```
 */
export interface CapabilityLink {
  /** The key. */
  readonly key: Capability<unknown>;
  /** The attached value. */
  readonly value: unknown;
  /** The rest of the chain (older attachments). */
  readonly next: CapabilityLink | undefined;
}
