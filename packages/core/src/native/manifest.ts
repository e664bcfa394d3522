/**
 * The release manifest: which prebuilt kernel file belongs to which target, and its
 * SHA-256. The release workflow fills `native/manifest.json`; `KREPIS_MANIFEST_PATH`
 * points at another manifest (mirrors, tests).
 *
 * @module
 */

import bundled from "../../native/manifest.json" with { type: "json" };
import { KrepisError } from "../errors.ts";

/** One prebuilt library in the manifest. */
export interface ManifestEntry {
  /** File name under the download base URL. */
  file: string;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
}

/** The release manifest. */
export interface Manifest {
  /** Kernel version the entries belong to. */
  version: string;
  /** Prebuilt libraries by Rust target triple. */
  targets: Record<string, ManifestEntry>;
}

function validate(value: unknown, origin: string): Manifest {
  const bad = (why: string) =>
    new KrepisError("LOAD_FAILED", `Invalid kernel manifest ${origin}: ${why}`);
  if (typeof value !== "object" || value === null) throw bad("not an object");
  const { version, targets } = value as Record<string, unknown>;
  if (typeof version !== "string" || version === "") {
    throw bad('"version" must be a non-empty string');
  }
  if (typeof targets !== "object" || targets === null) {
    throw bad('"targets" must be an object');
  }
  for (const [target, entry] of Object.entries(targets)) {
    const { file, sha256 } = (entry ?? {}) as Record<string, unknown>;
    if (typeof file !== "string" || !/^[\w.+-]+$/.test(file)) {
      throw bad(`targets.${target}.file must be a plain file name`);
    }
    if (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256)) {
      throw bad(`targets.${target}.sha256 must be 64 lower-case hex digits`);
    }
  }
  return value as Manifest;
}

/**
 * Reads the manifest from `KREPIS_MANIFEST_PATH`, or the one bundled with the package.
 *
 * @example
 * ```ts ignore
 * import { loadManifest } from "./manifest.ts";
 * const manifest = await loadManifest();
 * console.log(Object.keys(manifest.targets));
 * ```
 */
export async function loadManifest(): Promise<Manifest> {
  const path = Deno.env.get("KREPIS_MANIFEST_PATH");
  if (!path) return validate(bundled, "bundled with @krepis/core");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    throw new KrepisError(
      "LOAD_FAILED",
      `Cannot read the kernel manifest at KREPIS_MANIFEST_PATH=${path}: ${cause}`,
      { cause },
    );
  }
  try {
    return validate(JSON.parse(text), `at ${path}`);
  } catch (cause) {
    if (cause instanceof KrepisError) throw cause;
    throw new KrepisError(
      "LOAD_FAILED",
      `Invalid kernel manifest at ${path}: ${cause}`,
      { cause },
    );
  }
}
