/**
 * `@krepis/core/native`: facts about the native kernel library — which build is loaded,
 * from where (`kernelInfo`), and its live counters (`kernelStats`). The library itself (its
 * symbols, its memory, loading and unloading) is never handed out.
 *
 * @example
 * ```ts ignore
 * import { kernelInfo } from "@krepis/core/native";
 * const info = await kernelInfo();
 * console.log(`Krepis kernel ${info.version} (${info.target}) from ${info.source}`);
 * ```
 *
 * @module
 */

export {
  type KernelInfo,
  kernelInfo,
  type KernelStats,
  kernelStats,
} from "./src/kernel.ts";
export type { LibrarySource } from "./src/native/loader.ts";
export { KrepisError, type KrepisErrorCode } from "./src/errors.ts";
