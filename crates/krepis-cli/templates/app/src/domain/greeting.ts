/** A greeting for one person. */
export interface Greeting {
  /** Who is greeted. */
  name: string;
  /** What they are told. */
  message: string;
}

/**
 * Builds the greeting for `name`: pure domain logic, no I/O, no context.
 *
 * @example
 * ```ts
 * import { greet } from "./greeting.ts";
 * greet("  Ada ").message; // "Hello, Ada!"
 * ```
 */
export function greet(name: string): Greeting {
  const who = name.trim() || "world";
  return { name: who, message: `Hello, ${who}!` };
}
