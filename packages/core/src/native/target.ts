/**
 * Which native library file this runtime needs.
 *
 * @module
 */

/**
 * The file name of the kernel library on an operating system.
 *
 * @example
 * ```ts
 * import { libraryFileName } from "./target.ts";
 * console.assert(libraryFileName("linux") === "libkrepis.so");
 * ```
 */
export function libraryFileName(os: typeof Deno.build.os): string {
  switch (os) {
    case "windows":
      return "krepis.dll";
    case "darwin":
      return "libkrepis.dylib";
    default:
      return "libkrepis.so";
  }
}

/**
 * The Rust target triple of the running Deno, e.g. `x86_64-unknown-linux-gnu`.
 *
 * @example
 * ```ts
 * import { currentTarget } from "./target.ts";
 * console.log(currentTarget());
 * ```
 */
export function currentTarget(): string {
  return Deno.build.target;
}
