/**
 * The layer rules of the Trinity pattern, independent of any AST library: the
 * ts-morph architecture checker (`krepis check`) and the Deno lint plugin
 * extract imports and global accesses and ask these functions for a verdict,
 * so the two front ends cannot drift apart.
 *
 * What is I/O is read off the specifier: `@krepis/core`'s I/O lives in its
 * subpaths (`/http`, `/storage`, `/native`, `/plugins`, ... — every subpath but
 * the pure ones), Node built-ins and the native bindings are infrastructure, and
 * a relative path is judged by the role of the file it names.
 *
 * @module
 */

import type { Role } from "./classify.ts";
import type { Finding } from "./ctx_rule.ts";

/**
 * Identifiers of the layer rules, as reported and as lint rule names
 * (`krepis/<id>`).
 *
 * @example
 * ```ts
 * import { LAYER_RULES } from "./layer_rule.ts";
 * console.assert(LAYER_RULES.domainUsesDenoApi === "domain-uses-deno-api");
 * ```
 */
export const LAYER_RULES = {
  domainImportsInfrastructure: "domain-imports-infrastructure",
  domainUsesDenoApi: "domain-uses-deno-api",
  applicationImportsAdapter: "application-imports-adapter",
} as const;

/**
 * A layer rule's identifier.
 *
 * @example
 * ```ts
 * import type { LayerRule } from "./layer_rule.ts";
 * const rule: LayerRule = "domain-imports-infrastructure";
 * ```
 */
export type LayerRule = typeof LAYER_RULES[keyof typeof LAYER_RULES];

/**
 * A finding of a layer rule.
 *
 * @example
 * ```ts
 * import type { LayerFinding } from "./layer_rule.ts";
 * const f: LayerFinding = { rule: "domain-uses-deno-api", message: "uses Deno", hint: "use a port" };
 * ```
 */
export interface LayerFinding extends Finding {
  /** Which rule it breaks. */
  rule: LayerRule;
}

/**
 * Roles of the application layer (commands and queries are application code too).
 *
 * @example
 * ```ts
 * import { APPLICATION_ROLES } from "./layer_rule.ts";
 * console.assert(APPLICATION_ROLES.has("query"));
 * ```
 */
export const APPLICATION_ROLES: ReadonlySet<Role> = new Set<Role>([
  "application",
  "command",
  "query",
]);

/**
 * Roles the domain and the application may not import.
 *
 * @example
 * ```ts
 * import { OUTER_ROLES } from "./layer_rule.ts";
 * console.assert(OUTER_ROLES.has("adapter"));
 * ```
 */
export const OUTER_ROLES: ReadonlySet<Role> = new Set<Role>([
  "adapter",
  "infrastructure",
]);

/**
 * The entries of `@krepis/core` that do no I/O: the root (the application layer) and the
 * `/pipeline` and `/testing` subpaths. Every other subpath (`/http`, `/storage`,
 * `/native`, `/plugins`, and any area added later) is infrastructure to the domain, so a
 * new area is guarded until it is listed here.
 *
 * @example
 * ```ts
 * import { CORE_PURE_ENTRIES } from "./layer_rule.ts";
 * console.assert(CORE_PURE_ENTRIES.includes("@krepis/core/pipeline"));
 * ```
 */
export const CORE_PURE_ENTRIES: readonly string[] = [
  "@krepis/core",
  "@krepis/core/pipeline",
  "@krepis/core/testing",
];

/**
 * Whether a bare module specifier names infrastructure: the I/O subpaths of
 * `@krepis/core` (all but {@linkcode CORE_PURE_ENTRIES}), Node built-ins and the
 * native bindings.
 *
 * @example
 * ```ts
 * import { isInfrastructureSpecifier } from "./layer_rule.ts";
 * console.assert(isInfrastructureSpecifier("@krepis/core/http"));
 * console.assert(isInfrastructureSpecifier("@krepis/core/plugins"));
 * console.assert(isInfrastructureSpecifier("node:fs"));
 * console.assert(!isInfrastructureSpecifier("@krepis/core"));
 * console.assert(!isInfrastructureSpecifier("npm:zod"));
 * ```
 */
export function isInfrastructureSpecifier(specifier: string): boolean {
  const bare = specifier.replace(/^jsr:/, "").replace(
    /@[\d^~<>=.*x-]+(?=\/|$)/,
    "",
  );
  const core = bare === "@krepis/core" || bare.startsWith("@krepis/core/");
  return (core && !CORE_PURE_ENTRIES.includes(bare)) ||
    specifier.startsWith("node:") ||
    specifier.startsWith("@krepis/bindings") ||
    specifier.startsWith("ext:");
}

/**
 * Globals that reach the outside world; the functional core must not touch them.
 *
 * @example
 * ```ts
 * import { IO_GLOBALS } from "./layer_rule.ts";
 * console.assert(IO_GLOBALS.has("Deno"));
 * ```
 */
export const IO_GLOBALS: ReadonlySet<string> = new Set([
  "Deno",
  "fetch",
  "WebSocket",
  "XMLHttpRequest",
  "localStorage",
  "sessionStorage",
  "indexedDB",
  "caches",
]);

/**
 * Names of the global object (`globalThis.Deno` is `Deno`).
 *
 * @example
 * ```ts
 * import { GLOBAL_OBJECTS } from "./layer_rule.ts";
 * console.assert(GLOBAL_OBJECTS.has("globalThis"));
 * ```
 */
export const GLOBAL_OBJECTS: ReadonlySet<string> = new Set([
  "globalThis",
  "window",
  "self",
]);

/**
 * Judge one import (static, re-export or dynamic `import()` with a string
 * literal) of a file with role `from`. `target` is the role of the imported
 * file when it is a local file.
 *
 * @example
 * ```ts
 * import { judgeImport } from "./layer_rule.ts";
 * console.assert(judgeImport("domain", "@krepis/core/storage")?.rule === "domain-imports-infrastructure");
 * console.assert(judgeImport("domain", "@krepis/core") === undefined);
 * console.assert(judgeImport("command", "../../adapters/db.ts", "adapter")?.rule === "application-imports-adapter");
 * ```
 */
export function judgeImport(
  from: Role | undefined,
  specifier: string,
  target?: Role,
): LayerFinding | undefined {
  const outer = target !== undefined && OUTER_ROLES.has(target);
  if (from === "domain" && (outer || isInfrastructureSpecifier(specifier))) {
    return {
      rule: LAYER_RULES.domainImportsInfrastructure,
      message: `the domain imports "${specifier}" (${
        target ?? "infrastructure"
      }); the domain is the functional core and imports only domain code`,
      hint:
        "move the I/O behind a port and call it from a command or query; pass the data into the domain function",
    };
  }
  if (from !== undefined && APPLICATION_ROLES.has(from) && outer) {
    return {
      rule: LAYER_RULES.applicationImportsAdapter,
      message:
        `application code imports "${specifier}" (${target}); it must depend on ports only`,
      hint:
        "import the port interface from src/ports and receive the adapter through deps; wire adapters in the app module",
    };
  }
  return undefined;
}

/**
 * Judge a dynamic `import(expr)` whose specifier is not a string literal: the
 * domain may not load code chosen at run time.
 *
 * @example
 * ```ts
 * import { judgeComputedImport } from "./layer_rule.ts";
 * console.assert(judgeComputedImport("domain")?.rule === "domain-imports-infrastructure");
 * console.assert(judgeComputedImport("adapter") === undefined);
 * ```
 */
export function judgeComputedImport(
  from: Role | undefined,
): LayerFinding | undefined {
  if (from !== "domain") return undefined;
  return {
    rule: LAYER_RULES.domainImportsInfrastructure,
    message:
      "the domain imports a module named at run time; the domain is the functional core and imports only domain code",
    hint:
      "import domain modules statically; load anything else in an adapter behind a port",
  };
}

/**
 * Judge a read of a global by name: `name` is a free identifier (`Deno`), or
 * the key read off a global object (`globalThis.Deno`, `globalThis["Deno"]`).
 * `undefined` stands for a key computed at run time (`globalThis[k]`) or the
 * global object itself handed around (`const g = globalThis`).
 *
 * @example
 * ```ts
 * import { judgeGlobal } from "./layer_rule.ts";
 * console.assert(judgeGlobal("domain", "Deno")?.rule === "domain-uses-deno-api");
 * console.assert(judgeGlobal("domain", undefined, "globalThis")?.rule === "domain-uses-deno-api");
 * console.assert(judgeGlobal("domain", "structuredClone", "globalThis") === undefined);
 * console.assert(judgeGlobal("adapter", "Deno") === undefined);
 * ```
 */
export function judgeGlobal(
  from: Role | undefined,
  name: string | undefined,
  via?: string,
): LayerFinding | undefined {
  if (from !== "domain") return undefined;
  if (name !== undefined && !IO_GLOBALS.has(name)) return undefined;
  const what = name === undefined
    ? `\`${via}\` itself (a key chosen at run time reaches any global)`
    : via === undefined
    ? `the I/O global \`${name}\``
    : `the I/O global \`${name}\` through \`${via}\``;
  return {
    rule: LAYER_RULES.domainUsesDenoApi,
    message: `the domain uses ${what}; domain code must be pure`,
    hint:
      "do the I/O in an adapter behind a port and pass its result into the domain function",
  };
}
