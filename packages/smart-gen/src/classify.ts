/**
 * Decides which architectural role a source file plays, from its path alone.
 *
 * The convention (documented in the package README) is that an app keeps its
 * code under `src/` in one directory per role. Only the path is used so the
 * editor lint plugin (which sees one file at a time) and the project-wide
 * checkers classify every file the same way.
 *
 * @module
 */

/** The architectural role of a source file in a Krepis app. */
export type Role =
  | "command"
  | "query"
  | "application"
  | "port"
  | "adapter"
  | "domain"
  | "infrastructure";

/** Roles whose exported functions and methods must take `ctx` first. */
export const CTX_ROLES: ReadonlySet<Role> = new Set<Role>([
  "command",
  "query",
  "port",
  "adapter",
]);

/** Path fragments, most specific first: the first match wins. */
const RULES: ReadonlyArray<readonly [string, Role]> = [
  ["/src/application/commands/", "command"],
  ["/src/application/queries/", "query"],
  ["/src/application/", "application"],
  ["/src/ports/", "port"],
  ["/src/adapters/", "adapter"],
  ["/src/domain/", "domain"],
  ["/src/infrastructure/", "infrastructure"],
  ["/src/infra/", "infrastructure"],
];

/**
 * Classify a file by its path (absolute or relative, `/` or `\` separated).
 *
 * @example
 * ```ts
 * import { classifyPath } from "./classify.ts";
 * classifyPath("/app/src/application/commands/create_todo.ts"); // "command"
 * classifyPath("/app/main.ts"); // undefined
 * ```
 */
export function classifyPath(path: string): Role | undefined {
  const normalized = "/" + path.replaceAll("\\", "/").replace(/^\/+/, "");
  for (const [fragment, role] of RULES) {
    if (normalized.includes(fragment)) return role;
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
