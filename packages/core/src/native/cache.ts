/**
 * Where downloaded kernel libraries are kept.
 *
 * @module
 */

import { join } from "node:path";

/**
 * The per-user cache directory for Krepis: `KREPIS_CACHE_DIR`, else the OS cache directory
 * (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%`
 * on Windows) followed by `krepis`.
 *
 * @example
 * ```ts ignore
 * import { cacheRoot } from "./cache.ts";
 * console.log(cacheRoot());
 * ```
 */
export function cacheRoot(): string {
  const explicit = Deno.env.get("KREPIS_CACHE_DIR");
  if (explicit) return explicit;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  switch (Deno.build.os) {
    case "windows":
      return join(
        Deno.env.get("LOCALAPPDATA") ?? join(home, "AppData", "Local"),
        "krepis",
      );
    case "darwin":
      return join(home, "Library", "Caches", "krepis");
    default:
      return join(
        Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache"),
        "krepis",
      );
  }
}

/**
 * The directory holding the library of one kernel version and target.
 *
 * @example
 * ```ts ignore
 * import { cacheDir } from "./cache.ts";
 * console.log(cacheDir("0.1.0", "x86_64-unknown-linux-gnu"));
 * ```
 */
export function cacheDir(version: string, target: string): string {
  return join(cacheRoot(), version, target);
}
