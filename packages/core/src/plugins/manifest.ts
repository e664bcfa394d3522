/**
 * The shape of a verified `krepis.plugin.json` (the kernel validates it) and how its
 * permissions become Deno's: Worker permission options, or `--allow-*` flags.
 *
 * @module
 */

/**
 * Permissions a plugin declares, in Deno's terms.
 *
 * @example
 * ```ts
 * import type { PluginPermissions } from "@krepis/core/plugins";
 * const p: PluginPermissions = {
 *   read: ["./data"], write: [], net: ["api.example.com"], env: ["TOKEN"],
 *   run: false, ffi: false, sys: false,
 * };
 * ```
 */
export interface PluginPermissions {
  /** Readable paths. */
  read: string[];
  /** Writable paths. */
  write: string[];
  /** Reachable `host` / `host:port` entries. */
  net: string[];
  /** Readable environment variables. */
  env: string[];
  /** May start subprocesses. */
  run: boolean;
  /** May load native libraries. */
  ffi: boolean;
  /** May read system information. */
  sys: boolean;
}

/**
 * A verified plugin manifest.
 *
 * @example
 * ```ts
 * import type { PluginManifest } from "@krepis/core/plugins";
 * const m: PluginManifest = {
 *   name: "greeter", version: "1.0.0", entry: "mod.ts", kind: "behavior",
 *   permissions: { read: [], write: [], net: [], env: ["GREETING"], run: false, ffi: false, sys: false },
 * };
 * ```
 */
export interface PluginManifest {
  /** Plugin name. */
  name: string;
  /** Semantic version. */
  version: string;
  /** Entry module, relative to the plugin directory. */
  entry: string;
  /** `behavior` (an app pipeline behavior) or `command` (a CLI command). */
  kind: "behavior" | "command";
  /** One line for people. */
  description?: string;
  /** What the plugin may do. */
  permissions: PluginPermissions;
}

const listOrFalse = (list: string[]) => list.length === 0 ? false : list;

/**
 * Worker permissions: exactly the declared ones, plus reading the plugin's own verified copy
 * (`staged`) so its modules can load.
 */
export function workerPermissions(
  staged: string,
  p: PluginPermissions,
): Deno.PermissionOptionsObject {
  return {
    read: [staged, ...p.read],
    write: listOrFalse(p.write),
    net: listOrFalse(p.net),
    env: listOrFalse(p.env),
    run: p.run,
    ffi: p.ffi,
    sys: p.sys,
    import: false,
  };
}

/** The same permissions as `deno run` flags. */
export function permissionFlags(
  staged: string,
  p: PluginPermissions,
): string[] {
  const flags = [`--allow-read=${[staged, ...p.read].join(",")}`];
  for (
    const [name, list] of [["write", p.write], ["net", p.net], [
      "env",
      p.env,
    ]] as const
  ) {
    if (list.length > 0) flags.push(`--allow-${name}=${list.join(",")}`);
  }
  for (const name of ["run", "ffi", "sys"] as const) {
    if (p[name]) flags.push(`--allow-${name}`);
  }
  return flags;
}
