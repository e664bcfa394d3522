/**
 * The plugin analyser's rules, as data: which Deno, web and `node:` APIs need which Deno
 * permission and which argument names the resource; which globals and modules are dynamic
 * code; and how a literal resource is matched against a declared permission. The walker in
 * `plugin_checker.ts` only applies these tables.
 *
 * @module
 */

import type { PluginPermissions } from "@krepis/core/plugins";

/**
 * Rule identifiers reported by `krepis plugin check`.
 *
 * @example
 * ```ts
 * import { PLUGIN_RULES } from "./plugin_rules.ts";
 * PLUGIN_RULES.undeclaredPermission; // "undeclared-permission"
 * ```
 */
export const PLUGIN_RULES = {
  undeclaredPermission: "undeclared-permission",
  unverifiablePermission: "unverifiable-permission",
  dynamicCode: "dynamic-code",
  unanalysableImport: "unanalysable-import",
  importEscapesPlugin: "import-escapes-plugin",
} as const;

/**
 * A Deno permission, as named in `krepis.plugin.json` and by `--allow-*`.
 *
 * @example
 * ```ts
 * import type { PermissionName } from "./plugin_rules.ts";
 * const p: PermissionName = "net";
 * ```
 */
export type PermissionName =
  | "read"
  | "write"
  | "net"
  | "env"
  | "run"
  | "ffi"
  | "sys";

/**
 * The `permissions` object of a manifest (validated by the kernel before the analyser runs);
 * the same shape `@krepis/core/plugins` loads.
 *
 * @example
 * ```ts
 * import type { DeclaredPermissions } from "./plugin_rules.ts";
 * const none: DeclaredPermissions = { read: [], write: [], net: [], env: [], run: false, ffi: false, sys: false };
 * ```
 */
export type DeclaredPermissions = PluginPermissions;

/**
 * How a call's argument names the resource a permission is checked against.
 *
 * - `path`: a file path or `file:` URL;
 * - `url`: a URL whose host (and port) is checked against `net`;
 * - `host`: an options object with `hostname`/`host` and `port` (`Deno.connect`), or a host
 *   string (`Deno.resolveDns`);
 * - `env`: an environment variable name;
 * - `none`: the permission is all-or-nothing (`run`, `ffi`, `sys`) or the call uses every
 *   resource of its kind (`Deno.env.toObject()`).
 *
 * @example
 * ```ts
 * import type { ArgKind } from "./plugin_rules.ts";
 * const kind: ArgKind = "path";
 * ```
 */
export type ArgKind = "path" | "url" | "host" | "env" | "none";

/**
 * One permission a call needs: which, and which argument (by index) names the resource.
 *
 * @example
 * ```ts
 * import type { Need } from "./plugin_rules.ts";
 * const readFirstArg: Need = { permission: "read", arg: "path", index: 0 };
 * ```
 */
export interface Need {
  /** The permission. */
  permission: PermissionName;
  /** How the argument names the resource. */
  arg: ArgKind;
  /** Index of that argument. */
  index: number;
}

const read0: Need = { permission: "read", arg: "path", index: 0 };
const write0: Need = { permission: "write", arg: "path", index: 0 };
const write1: Need = { permission: "write", arg: "path", index: 1 };
const all = (permission: PermissionName): Need => ({
  permission,
  arg: "none",
  index: 0,
});

function table(
  groups: [string[], Need[]][],
): ReadonlyMap<string, readonly Need[]> {
  const map = new Map<string, Need[]>();
  for (const [names, needs] of groups) {
    for (const name of names) map.set(name, needs);
  }
  return map;
}

const withSync = (names: string[]) => names.flatMap((n) => [n, `${n}Sync`]);

/**
 * Members of `Deno` that need a permission (`Deno.readTextFile(path)` needs `read` of its
 * first argument). `Deno.env` is handled through {@linkcode DENO_ENV_APIS}.
 *
 * @example
 * ```ts
 * import { DENO_APIS } from "./plugin_rules.ts";
 * DENO_APIS.get("readTextFile")?.[0].permission; // "read"
 * ```
 */
export const DENO_APIS: ReadonlyMap<string, readonly Need[]> = table([
  [
    withSync([
      "readFile",
      "readTextFile",
      "readDir",
      "stat",
      "lstat",
      "readLink",
      "realPath",
      "open",
    ]),
    [read0],
  ],
  [["watchFs"], [read0]],
  [
    withSync([
      "writeFile",
      "writeTextFile",
      "mkdir",
      "remove",
      "create",
      "truncate",
      "chmod",
      "chown",
      "utime",
    ]),
    [write0],
  ],
  [withSync(["makeTempDir", "makeTempFile"]), [all("write")]],
  // The working directory and the executable's path are file-system reads in Deno.
  [["cwd", "chdir", "execPath"], [all("read")]],
  [withSync(["copyFile"]), [read0, write1]],
  [withSync(["rename"]), [read0, write0, write1]],
  [withSync(["link", "symlink"]), [read0, write1]],
  [["connect", "connectTls", "listen", "listenTls", "listenDatagram"], [{
    permission: "net",
    arg: "host",
    index: 0,
  }]],
  [["connectQuic"], [{ permission: "net", arg: "host", index: 0 }]],
  [["resolveDns"], [{ permission: "net", arg: "host", index: 0 }]],
  [["serve"], [all("net")]],
  [["Command", "run", "kill"], [all("run")]],
  [["dlopen"], [all("ffi")]],
  [
    [
      "hostname",
      "osRelease",
      "osUptime",
      "loadavg",
      "networkInterfaces",
      "systemMemoryInfo",
      "uid",
      "gid",
      "consoleSize",
    ],
    [all("sys")],
  ],
  [["openKv"], [read0, write0]],
]);

/**
 * Methods of `Deno.env` and what they need (`get("HOME")` needs `env` of `HOME`).
 *
 * @example
 * ```ts
 * import { DENO_ENV_APIS } from "./plugin_rules.ts";
 * DENO_ENV_APIS.get("toObject")?.[0].arg; // "none"
 * ```
 */
export const DENO_ENV_APIS: ReadonlyMap<string, readonly Need[]> = table([
  [["get", "has", "set", "delete"], [{
    permission: "env",
    arg: "env",
    index: 0,
  }]],
  [["toObject"], [all("env")]],
]);

/**
 * Web globals that need a permission when called or constructed.
 *
 * @example
 * ```ts
 * import { WEB_APIS } from "./plugin_rules.ts";
 * WEB_APIS.get("fetch")?.[0].arg; // "url"
 * ```
 */
export const WEB_APIS: ReadonlyMap<string, readonly Need[]> = table([
  [["fetch", "WebSocket", "EventSource", "WebSocketStream"], [{
    permission: "net",
    arg: "url",
    index: 0,
  }]],
]);

/**
 * `node:` modules whose use needs a permission: `fs` functions by name, and whole modules
 * (any use of `node:child_process` needs `run`).
 *
 * @example
 * ```ts
 * import { nodeNeeds } from "./plugin_rules.ts";
 * nodeNeeds("node:fs", "readFileSync")?.[0].permission; // "read"
 * nodeNeeds("node:child_process", "spawn")?.[0].permission; // "run"
 * nodeNeeds("node:path", "join"); // undefined
 * ```
 */
export function nodeNeeds(
  module: string,
  name: string,
): readonly Need[] | undefined {
  const base = module.replace(/^node:/, "");
  if (base === "fs" || base === "fs/promises") return NODE_FS.get(name);
  if (base === "child_process") return [all("run")];
  if (NODE_NET_MODULES.has(base)) {
    return NODE_NET_CALLS.has(name)
      ? [{ permission: "net", arg: "url", index: 0 }]
      : undefined;
  }
  if (base === "os") return NODE_OS_SYS.has(name) ? [all("sys")] : undefined;
  if (base === "process" && name === "env") return [all("env")];
  return undefined;
}

/**
 * Whether any use of `node:` module `module` may need a permission; such a module's
 * namespace must be used as `ns.name(...)` so each use can be checked.
 *
 * @example
 * ```ts
 * import { isGatedNodeModule } from "./plugin_rules.ts";
 * isGatedNodeModule("node:fs"); // true
 * isGatedNodeModule("node:path"); // false
 * ```
 */
export function isGatedNodeModule(module: string): boolean {
  const base = module.replace(/^node:/, "");
  return base === "fs" || base === "fs/promises" || base === "child_process" ||
    base === "os" || base === "process" || NODE_NET_MODULES.has(base);
}

const NODE_FS: ReadonlyMap<string, readonly Need[]> = table([
  [
    [
      ...withSync([
        "readFile",
        "readdir",
        "stat",
        "lstat",
        "access",
        "opendir",
        "readlink",
        "realpath",
        "open",
        "exists",
      ]),
      "createReadStream",
      "watch",
      "watchFile",
    ],
    [read0],
  ],
  [
    [
      ...withSync([
        "writeFile",
        "appendFile",
        "mkdir",
        "rm",
        "rmdir",
        "unlink",
        "truncate",
        "chmod",
        "chown",
        "utimes",
        "mkdtemp",
      ]),
      "createWriteStream",
    ],
    [write0],
  ],
  [withSync(["copyFile", "cp", "link", "symlink"]), [read0, write1]],
  [withSync(["rename"]), [read0, write0, write1]],
]);

const NODE_NET_MODULES: ReadonlySet<string> = new Set([
  "http",
  "https",
  "http2",
  "net",
  "tls",
  "dgram",
]);

const NODE_NET_CALLS: ReadonlySet<string> = new Set([
  "get",
  "request",
  "connect",
  "createConnection",
  "createServer",
  "createSocket",
]);

const NODE_OS_SYS: ReadonlySet<string> = new Set([
  "hostname",
  "networkInterfaces",
  "cpus",
  "totalmem",
  "freemem",
  "loadavg",
  "uptime",
  "userInfo",
  "release",
  "homedir",
]);

/**
 * Globals whose use runs code built at run time, which no static analysis can review.
 *
 * @example
 * ```ts
 * import { DYNAMIC_GLOBALS } from "./plugin_rules.ts";
 * DYNAMIC_GLOBALS.has("eval"); // true
 * ```
 */
export const DYNAMIC_GLOBALS: ReadonlySet<string> = new Set([
  "eval",
  "Function",
  // A Worker runs a module named at run time (a `data:` or `blob:` URL, say).
  "Worker",
  "SharedWorker",
]);

/**
 * Names of the global object: computed or aliased access through them hides what is used.
 *
 * @example
 * ```ts
 * import { GLOBAL_OBJECTS } from "./plugin_rules.ts";
 * GLOBAL_OBJECTS.has("globalThis"); // true
 * ```
 */
export const GLOBAL_OBJECTS: ReadonlySet<string> = new Set([
  "globalThis",
  "self",
  "window",
]);

/**
 * `node:` modules that run code built at run time.
 *
 * @example
 * ```ts
 * import { DYNAMIC_NODE_MODULES } from "./plugin_rules.ts";
 * DYNAMIC_NODE_MODULES.has("vm"); // true
 * ```
 */
export const DYNAMIC_NODE_MODULES: ReadonlySet<string> = new Set([
  "vm",
  "module",
  "worker_threads",
]);

/**
 * How the flag that grants `permission` for `resource` is spelled, for messages.
 *
 * @example
 * ```ts
 * import { flagFor } from "./plugin_rules.ts";
 * flagFor("read", "/etc/passwd"); // "--allow-read=/etc/passwd"
 * flagFor("run", undefined); // "--allow-run"
 * ```
 */
export function flagFor(
  permission: PermissionName,
  resource: string | undefined,
): string {
  return resource === undefined
    ? `--allow-${permission}`
    : `--allow-${permission}=${resource}`;
}

function normalizePath(path: string): string {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return (absolute ? "/" : "") + parts.join("/");
}

/**
 * Whether the declared path list covers `path` (the path itself or a directory above it),
 * as Deno's `--allow-read`/`--allow-write` lists do.
 *
 * @example
 * ```ts
 * import { pathCovered } from "./plugin_rules.ts";
 * pathCovered(["/var/data"], "/var/data/a.json"); // true
 * pathCovered(["/var/data"], "/var/database"); // false
 * ```
 */
export function pathCovered(
  declared: readonly string[],
  path: string,
): boolean {
  const target = normalizePath(path);
  return declared.some((entry) => {
    const root = normalizePath(entry);
    return target === root ||
      target.startsWith(root === "/" ? "/" : `${root}/`);
  });
}

/**
 * Whether the declared `net` list covers `host` (and `port`, when the entry names one).
 *
 * @example
 * ```ts
 * import { hostCovered } from "./plugin_rules.ts";
 * hostCovered(["api.example.com"], "api.example.com", 443); // true
 * hostCovered(["api.example.com:8443"], "api.example.com", 443); // false
 * ```
 */
export function hostCovered(
  declared: readonly string[],
  host: string,
  port: number | undefined,
): boolean {
  return declared.some((entry) => {
    const colon = entry.lastIndexOf(":");
    if (colon === -1) return entry === host;
    return entry.slice(0, colon) === host &&
      port !== undefined && Number(entry.slice(colon + 1)) === port;
  });
}
