/**
 * Krepis root entry point: re-exports `@krepis/core`.
 *
 * @example
 * ```ts ignore
 * import { kernelInfo } from "./mod.ts";
 * console.log(await kernelInfo());
 * ```
 *
 * @module
 */

export * from "@krepis/core";
