/**
 * Edits the app module (the file that calls `createApp({...})`) through the
 * AST: adds imports, registers commands, queries and adapter bindings, and
 * adds routes.
 *
 * @module
 */

import {
  type ArrayLiteralExpression,
  type CallExpression,
  Node,
  type ObjectLiteralExpression,
  type SourceFile,
  SyntaxKind,
} from "ts-morph";
import { dirname, relative } from "node:path";

/**
 * An HTTP method a generated route may use (those `route()` accepts).
 *
 * @example
 * ```ts
 * import type { RouteMethod } from "./app_module.ts";
 * const method: RouteMethod = "POST";
 * ```
 */
export type RouteMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Every {@linkcode RouteMethod}, for validating input. */
export const ROUTE_METHODS: readonly RouteMethod[] = [
  "GET",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
];

/**
 * A route to add: method and path pattern.
 *
 * @example
 * ```ts
 * import type { RouteSpec } from "./app_module.ts";
 * const spec: RouteSpec = { method: "GET", path: "/todos/:id" };
 * ```
 */
export interface RouteSpec {
  /** HTTP method. */
  method: RouteMethod;
  /** Path pattern, e.g. `/todos/:id`. */
  path: string;
}

/**
 * The module specifier for importing `target` from `from` (both absolute paths).
 *
 * @example
 * ```ts
 * import { importSpecifier } from "./app_module.ts";
 * importSpecifier("/app/src/app.ts", "/app/src/ports/repo.ts"); // "./ports/repo.ts"
 * ```
 */
export function importSpecifier(from: string, target: string): string {
  const rel = relative(dirname(from), target).replaceAll("\\", "/");
  return rel.startsWith(".") ? rel : `./${rel}`;
}

/** The first `createApp(...)` call in `file`, if any. */
export function findCreateApp(file: SourceFile): CallExpression | undefined {
  return file.getDescendantsOfKind(SyntaxKind.CallExpression).find((call) => {
    const callee = call.getExpression();
    return callee.getText() === "createApp" ||
      (Node.isPropertyAccessExpression(callee) &&
        callee.getName() === "createApp");
  });
}

/** The app module in `files`: the one calling `createApp`, `src/app.ts` first. */
export function findAppModule(files: SourceFile[]): SourceFile | undefined {
  const withApp = files.filter((f) => findCreateApp(f) !== undefined);
  return withApp.find((f) => f.getFilePath().endsWith("/src/app.ts")) ??
    withApp[0];
}

/** Adds `import { name } from "specifier"` unless `name` is already imported from there. */
export function ensureNamedImport(
  file: SourceFile,
  name: string,
  specifier: string,
  typeOnly = false,
): void {
  const existing = file.getImportDeclaration((d) =>
    d.getModuleSpecifierValue() === specifier
  );
  if (existing) {
    if (existing.getNamedImports().some((n) => n.getName() === name)) return;
    if (existing.isTypeOnly() && !typeOnly) existing.setIsTypeOnly(false);
    existing.addNamedImport(
      typeOnly && !existing.isTypeOnly() ? { name, isTypeOnly: true } : name,
    );
    return;
  }
  file.addImportDeclaration({
    moduleSpecifier: specifier,
    namedImports: [name],
    isTypeOnly: typeOnly,
  });
  sortImports(file);
}

/** Keeps imports in the order deno fmt users expect: bare specifiers, then relative, each by path. */
function sortImports(file: SourceFile): void {
  const decls = file.getImportDeclarations();
  const texts = decls.map((d) => ({
    key: d.getModuleSpecifierValue(),
    text: d.getText(),
  }));
  const rank = (s: string) => (s.startsWith(".") ? 1 : 0);
  const sorted = [...texts].sort((a, b) =>
    rank(a.key) - rank(b.key) || a.key.localeCompare(b.key)
  );
  if (sorted.every((t, i) => t === texts[i])) return;
  decls.forEach((d, i) => d.replaceWithText(sorted[i].text));
}

function appOptions(call: CallExpression): ObjectLiteralExpression {
  const arg = call.getArguments()[0];
  if (!arg || !Node.isObjectLiteralExpression(arg)) {
    throw new Error(
      `createApp(...) at line ${call.getStartLineNumber()} is not given an object literal`,
    );
  }
  return arg;
}

/** The array literal of option `key` in `createApp({...})`, created when missing. */
function optionArray(
  call: CallExpression,
  key: string,
): ArrayLiteralExpression {
  const options = appOptions(call);
  const prop = options.getProperty(key);
  if (prop === undefined) {
    const added = options.addPropertyAssignment({
      name: key,
      initializer: "[]",
    });
    return added.getInitializerIfKindOrThrow(SyntaxKind.ArrayLiteralExpression);
  }
  const init = Node.isPropertyAssignment(prop)
    ? prop.getInitializer()
    : undefined;
  if (!init || !Node.isArrayLiteralExpression(init)) {
    throw new Error(
      `createApp option "${key}" is not an array literal; add the entry by hand`,
    );
  }
  return init;
}

/**
 * Registers `element` in the `key` array of `createApp({...})` (no-op when an
 * element with the same text is already there).
 *
 * @example
 * ```ts ignore
 * registerInApp(call, "commands", "createTodoCommand");
 * ```
 */
export function registerInApp(
  call: CallExpression,
  key: string,
  element: string,
): void {
  const array = optionArray(call, key);
  if (array.getElements().some((e) => e.getText() === element)) return;
  array.addElement(element, {
    useNewLines: array.getElements().length > 0 ||
      array.getText().includes("\n"),
  });
}

/**
 * Binds `portConstant` to `binding` in `adapters`, replacing an earlier
 * binding of the same port (an app binds each port once).
 */
export function bindAdapter(
  call: CallExpression,
  portConstant: string,
  binding: string,
): "added" | "replaced" {
  const array = optionArray(call, "adapters");
  for (const element of array.getElements()) {
    if (
      Node.isCallExpression(element) &&
      element.getExpression().getText() === "provide" &&
      element.getArguments()[0]?.getText() === portConstant
    ) {
      element.replaceWithText(binding);
      return "replaced";
    }
  }
  array.addElement(binding, { useNewLines: true });
  return "added";
}

/** Adds `route("METHOD", "/path", handler)` unless that method and path are taken. */
export function addRoute(
  call: CallExpression,
  spec: RouteSpec,
  handler: string,
): void {
  const array = optionArray(call, "routes");
  for (const element of array.getElements()) {
    if (!Node.isCallExpression(element)) continue;
    const [method, path] = element.getArguments().map((a) => a.getText());
    if (method === `"${spec.method}"` && path === `"${spec.path}"`) {
      throw new Error(
        `the app already has a route ${spec.method} ${spec.path}`,
      );
    }
  }
  array.addElement(`route("${spec.method}", "${spec.path}", ${handler})`, {
    useNewLines: true,
  });
}
