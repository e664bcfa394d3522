/**
 * Decides which architectural role a source file plays, from its path alone.
 *
 * The convention (documented in the package README) is that an app keeps its
 * code in one directory (or module file) per role. Only the path is used so the
 * editor lint plugin (which sees one file at a time) and the project-wide
 * checkers classify every file the same way.
 *
 * @module
 */

/**
 * The architectural role of a source file in a Krepis app.
 *
 * @example
 * ```ts
 * import type { Role } from "./classify.ts";
 * const role: Role = "port";
 * ```
 */
export type Role =
  | "command"
  | "query"
  | "application"
  | "port"
  | "adapter"
  | "domain"
  | "infrastructure";

/**
 * Roles whose exported functions and methods must take `ctx` first.
 *
 * @example
 * ```ts
 * import { CTX_ROLES } from "./classify.ts";
 * CTX_ROLES.has("adapter"); // true
 * CTX_ROLES.has("domain"); // false
 * ```
 */
export const CTX_ROLES: ReadonlySet<Role> = new Set<Role>([
  "command",
  "query",
  "port",
  "adapter",
]);

/** Directory (or module file) names that give a role. */
const ROLE_NAMES: ReadonlyMap<string, Role> = new Map<string, Role>([
  ["commands", "command"],
  ["queries", "query"],
  ["application", "application"],
  ["ports", "port"],
  ["adapters", "adapter"],
  ["domain", "domain"],
  ["infrastructure", "infrastructure"],
  ["infra", "infrastructure"],
]);

/**
 * Classify a file by its path (absolute or relative, `/` or `\` separated).
 * The innermost directory named after a role decides, and a module file
 * named after one counts as that directory: `src/application/commands/x.ts`
 * and `application/commands.ts` are both commands, `application/ports.ts`
 * is a port.
 *
 * @example
 * ```ts
 * import { classifyPath } from "./classify.ts";
 * classifyPath("/app/src/application/commands/create_todo.ts"); // "command"
 * classifyPath("/app/application/ports.ts"); // "port"
 * classifyPath("/app/main.ts"); // undefined
 * ```
 */
export function classifyPath(path: string): Role | undefined {
  const segments = path.replaceAll("\\", "/").split("/");
  const last = segments.length - 1;
  segments[last] = segments[last].replace(/\.[cm]?[jt]sx?$/, "");
  for (let i = last; i >= 0; i--) {
    const role = ROLE_NAMES.get(segments[i]);
    if (role !== undefined) return role;
  }
  return undefined;
}

/**
 * Whether a file is a test, which the checkers leave alone (tests call
 * handlers in ways the architecture rules are not about).
 *
 * @example
 * ```ts
 * import { isTestFile } from "./classify.ts";
 * isTestFile("src/domain/todo_test.ts"); // true
 * ```
 */
export function isTestFile(path: string): boolean {
  return /(?:_test|\.test|\.spec)\.[cm]?tsx?$/.test(path);
}
