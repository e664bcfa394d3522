/**
 * Finds, fetches and opens the native kernel library.
 *
 * Resolution order:
 * 1. `KREPIS_LIB_PATH` — an explicit library file.
 * 2. The workspace's own build, when `@krepis/core` runs from a Krepis checkout:
 *    `target/release`, then `target/debug` (the newer wins when both exist, so a stale
 *    release build never shadows a fresh debug build). `KREPIS_LOCAL_BUILD=0` skips this.
 * 3. The user cache: `KREPIS_CACHE_DIR` (default: the OS cache dir + `krepis`) +
 *    `<version>/<target>/<file>`, verified against the manifest.
 * 4. A download from `KREPIS_BINARY_BASE_URL` (default: this version's GitHub release) as
 *    `<base>/<file>`, verified, then cached.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KrepisError } from "../errors.ts";
import { cacheDir } from "./cache.ts";
import { ensureDownloaded } from "./download.ts";
import { type OpenedLibrary, openLibrary } from "./library.ts";
import { loadManifest } from "./manifest.ts";
import { currentTarget, libraryFileName } from "./target.ts";

/** Where the loaded library came from. */
export type LibrarySource = "env" | "local" | "cache" | "download";

/** A resolved library file. */
export interface ResolvedLibrary {
  /** Absolute or caller-given path of the library file. */
  path: string;
  /** Which resolution step found it. */
  source: LibrarySource;
}

/** The loaded kernel: its library and where it came from. */
export interface LoadedKernel extends OpenedLibrary {
  /** Which resolution step found the library. */
  source: LibrarySource;
}

const RELEASES = "https://github.com/krepis/krepis/releases/download";

function isFile(path: string): Deno.FileInfo | undefined {
  try {
    const info = Deno.statSync(path);
    return info.isFile ? info : undefined;
  } catch {
    return undefined;
  }
}

/** The Krepis checkout this module runs from, if any. */
function workspaceRoot(): string | undefined {
  if (!import.meta.url.startsWith("file:")) return undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (
      isFile(join(dir, "Cargo.toml")) &&
      isFile(join(dir, "crates", "krepis-ffi", "Cargo.toml"))
    ) {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function localBuild(file: string): string | undefined {
  if (Deno.env.get("KREPIS_LOCAL_BUILD") === "0") return undefined;
  const root = workspaceRoot();
  if (!root) return undefined;
  const targetDir = Deno.env.get("CARGO_TARGET_DIR") ?? join(root, "target");
  const candidates = ["release", "debug"]
    .map((profile) => join(targetDir, profile, file))
    .map((path) => ({ path, info: isFile(path) }))
    .filter((c) => c.info !== undefined);
  candidates.sort((a, b) =>
    (b.info!.mtime?.getTime() ?? 0) - (a.info!.mtime?.getTime() ?? 0)
  );
  return candidates[0]?.path;
}

/**
 * What to do when no kernel library was found: inside a checkout, build it there (the
 * loader finds `target/debug` and `target/release` by itself); outside one, build it in a
 * checkout and point `KREPIS_LIB_PATH` at it.
 *
 * @example
 * ```ts
 * import { buildHint } from "./loader.ts";
 * buildHint("/src/krepis", false, "libkrepis.so").includes("deno task build:kernel"); // true
 * ```
 */
export function buildHint(
  checkout: string | undefined,
  localBuildDisabled: boolean,
  file: string,
): string {
  if (checkout && !localBuildDisabled) {
    return `Build it in the checkout ${checkout} with \`deno task build:kernel\` ` +
      `(debug) or \`deno task build:kernel:release\`; the next import finds ` +
      `target/debug/${file} or target/release/${file} by itself.`;
  }
  if (checkout) {
    return `KREPIS_LOCAL_BUILD=0 skips the checkout's own build in ${checkout}/target: ` +
      `unset it (and \`deno task build:kernel\` there), or build with ` +
      `\`cargo build --release -p krepis-ffi\` and set KREPIS_LIB_PATH to ` +
      `${checkout}/target/release/${file}.`;
  }
  return `Build it in a Krepis checkout with \`cargo build --release -p krepis-ffi\` ` +
    `and set KREPIS_LIB_PATH to that checkout's target/release/${file}.`;
}

/**
 * Finds the kernel library file, downloading it when nothing local exists.
 *
 * @example
 * ```ts ignore
 * import { resolveLibrary } from "./loader.ts";
 * const { path, source } = await resolveLibrary();
 * console.log(path, source);
 * ```
 */
export async function resolveLibrary(): Promise<ResolvedLibrary> {
  const found = resolveWithoutDownload();
  if (found) return found;
  return await resolveFromRelease();
}

/** Steps 1 and 2 of the resolution order: nothing to wait for. */
function resolveWithoutDownload(): ResolvedLibrary | undefined {
  const explicit = Deno.env.get("KREPIS_LIB_PATH");
  if (explicit) {
    if (!isFile(explicit)) {
      throw new KrepisError(
        "LOAD_FAILED",
        `KREPIS_LIB_PATH=${explicit} does not name a file. Point it at a built kernel ` +
          `(e.g. target/release/${
            libraryFileName(Deno.build.os)
          }) or unset it.`,
      );
    }
    return { path: explicit, source: "env" };
  }
  const local = localBuild(libraryFileName(Deno.build.os));
  return local ? { path: local, source: "local" } : undefined;
}

/** Steps 3 and 4: the verified cache, or a download. */
async function resolveFromRelease(): Promise<ResolvedLibrary> {
  const manifest = await loadManifest();
  const target = currentTarget();
  const entry = manifest.targets[target];
  if (!entry) {
    const supported = Object.keys(manifest.targets);
    throw new KrepisError(
      "LOAD_FAILED",
      `Krepis ${manifest.version} has no prebuilt kernel for ${target}` +
        (supported.length ? ` (prebuilt: ${supported.join(", ")})` : "") +
        `. ${
          buildHint(
            workspaceRoot(),
            Deno.env.get("KREPIS_LOCAL_BUILD") === "0",
            libraryFileName(Deno.build.os),
          )
        }`,
    );
  }
  const base = (Deno.env.get("KREPIS_BINARY_BASE_URL") ??
    `${RELEASES}/v${manifest.version}`).replace(/\/+$/, "");
  const { path, downloaded } = await ensureDownloaded({
    url: `${base}/${entry.file}`,
    dir: cacheDir(manifest.version, target),
    file: entry.file,
    sha256: entry.sha256,
  });
  return { path, source: downloaded ? "download" : "cache" };
}

let loading: Promise<LoadedKernel> | undefined;
let loaded: LoadedKernel | undefined;

/**
 * Loads the kernel once per process and returns it; later calls share the same library.
 * A failed load is not remembered, so fixing the cause and calling again works.
 *
 * @example
 * ```ts ignore
 * import { loadKernel } from "./loader.ts";
 * const kernel = await loadKernel();
 * console.log(kernel.source, kernel.bindings.abiVersion());
 * ```
 */
export function loadKernel(): Promise<LoadedKernel> {
  loading ??= (async () => {
    if (loaded) return loaded;
    const { path, source } = await resolveLibrary();
    loaded ??= { ...openLibrary(path), source };
    return loaded;
  })().catch((error) => {
    loading = undefined;
    throw error;
  });
  return loading;
}

/**
 * The kernel, when it can be had without waiting: already loaded by {@linkcode loadKernel},
 * or a library named by `KREPIS_LIB_PATH` or built in this checkout (opened now). Returns
 * `undefined` when only the download cache or a download would find it: then
 * `await loadKernel()` first. Synchronous callers such as `serve()` use it.
 *
 * @example
 * ```ts ignore
 * import { loadKernel, loadKernelSync } from "./loader.ts";
 * const kernel = loadKernelSync() ?? await loadKernel();
 * console.log(kernel.source);
 * ```
 */
export function loadKernelSync(): LoadedKernel | undefined {
  if (loaded) return loaded;
  const found = resolveWithoutDownload();
  if (!found) return undefined;
  loaded = { ...openLibrary(found.path), source: found.source };
  return loaded;
}
