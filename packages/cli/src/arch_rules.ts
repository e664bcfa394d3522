/**
 * The architecture rules of the Trinity pattern, as data: identifiers, and
 * the predicates that decide what counts as infrastructure, an I/O global or
 * a writing port method. Kept apart from the AST walking so the rules read
 * in one place.
 *
 * @module
 */

import type { Role } from "@krepis/smart-gen";

/**
 * Rule identifiers reported by the architecture checker.
 *
 * @example
 * ```ts
 * import { ARCH_RULES } from "./arch_rules.ts";
 * ARCH_RULES.queryWritesPort; // "query-writes-port"
 * ```
 */
export const ARCH_RULES = {
  domainImportsInfrastructure: "domain-imports-infrastructure",
  domainUsesDenoApi: "domain-uses-deno-api",
  applicationImportsAdapter: "application-imports-adapter",
  queryInvokesCommand: "query-invokes-command",
  queryWritesPort: "query-writes-port",
} as const;

/**
 * Roles of the application layer (commands and queries are application code too).
 *
 * @example
 * ```ts
 * import { APPLICATION_ROLES } from "./arch_rules.ts";
 * APPLICATION_ROLES.has("query"); // true
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
 * import { OUTER_ROLES } from "./arch_rules.ts";
 * OUTER_ROLES.has("adapter"); // true
 * ```
 */
export const OUTER_ROLES: ReadonlySet<Role> = new Set<Role>([
  "adapter",
  "infrastructure",
]);

/**
 * Whether a bare module specifier names infrastructure: Node built-ins and
 * the native bindings.
 *
 * @example
 * ```ts
 * import { isInfrastructureSpecifier } from "./arch_rules.ts";
 * isInfrastructureSpecifier("node:fs"); // true
 * isInfrastructureSpecifier("npm:zod"); // false
 * ```
 */
export function isInfrastructureSpecifier(specifier: string): boolean {
  return specifier.startsWith("node:") ||
    specifier.startsWith("@krepis/bindings") ||
    specifier.startsWith("ext:");
}

/**
 * Values of `@krepis/core` that do I/O (the kernel, servers, storage, the
 * composition root). The domain may use the rest of the framework (`ok`,
 * `err`, `AppError`, types) but not these.
 *
 * @example
 * ```ts
 * import { CORE_IO_EXPORTS } from "./arch_rules.ts";
 * CORE_IO_EXPORTS.has("openKv"); // true
 * CORE_IO_EXPORTS.has("ok"); // false
 * ```
 */
export const CORE_IO_EXPORTS: ReadonlySet<string> = new Set([
  "serve",
  "createApp",
  "loadKernel",
  "resolveLibrary",
  "kernelInfo",
  "kernelStats",
  "SharedBuffer",
  "openJournal",
  "Journal",
  "JournalTransaction",
  "openKv",
  "Kv",
  "AtomicOperation",
]);

/**
 * Globals that reach the outside world; the functional core must not touch them.
 *
 * @example
 * ```ts
 * import { IO_GLOBALS } from "./arch_rules.ts";
 * IO_GLOBALS.has("Deno"); // true
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

const WRITE_VERB =
  /^(save|create|insert|update|upsert|delete|remove|put|set|add|write|append|patch|store|clear|destroy|drop|publish|send|enqueue|increment|decrement|mark|complete|toggle|archive|reset|rename|move)(?![a-z])/;

/**
 * Whether a port method writes, for ports without a `definePort(..., {
 * writes })` list (which the checker consults first): a `@write` JSDoc tag
 * says yes, `@read` says no, otherwise its name starts with a writing verb
 * (`save`, `deleteById`, ...).
 *
 * @example
 * ```ts
 * import { isWriteMethod } from "./arch_rules.ts";
 * isWriteMethod("saveTodo", []); // true
 * isWriteMethod("findById", []); // false
 * isWriteMethod("settings", []); // false
 * ```
 */
export function isWriteMethod(name: string, tags: readonly string[]): boolean {
  if (tags.includes("read")) return false;
  if (tags.includes("write")) return true;
  return WRITE_VERB.test(name);
}
