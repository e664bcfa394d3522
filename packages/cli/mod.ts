/**
 * Placeholder entry point; filled in by the developer-tooling issue.
 *
 * @module
 */

/**
 * Package version.
 *
 * @example
 * ```ts
 * import { VERSION } from "./mod.ts";
 * console.log(VERSION);
 * ```
 */
export const VERSION = "0.1.0";
