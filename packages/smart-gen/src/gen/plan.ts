/**
 * Plans a `krepis gen` run: which files to create and which existing files
 * change, with their complete new content. Planning writes nothing; the
 * caller applies the plan in one journaled transaction, so one `krepis undo`
 * reverts all of it.
 *
 * @module
 */

import { Node, type SourceFile, SyntaxKind } from "ts-morph";
import { join, resolve } from "node:path";
import { existsSync } from "node:fs";
import { createHash } from "node:crypto";
import { loadApp, relativePath } from "../project.ts";
import { UsageError } from "../args.ts";
import { type Names, names } from "./names.ts";
import {
  adapterModule,
  adapterTestModule,
  handlerModule,
  handlerTestModule,
  memoryAdapterModule,
  type MethodSignature,
  portModule,
  type PortRef,
} from "./templates.ts";
import {
  addRoute,
  bindAdapter,
  ensureNamedImport,
  findAppModule,
  findCreateApp,
  importSpecifier,
  registerInApp,
  type RouteSpec,
} from "./app_module.ts";

/**
 * What `krepis gen` can create.
 *
 * @example
 * ```ts
 * import type { GenKind } from "./plan.ts";
 * const kind: GenKind = "adapter";
 * ```
 */
export type GenKind = "command" | "query" | "port" | "adapter";

/**
 * Everything a generation needs.
 *
 * @example
 * ```ts
 * import type { GenOptions } from "./plan.ts";
 * const options: GenOptions = {
 *   root: "my-app",
 *   kind: "command",
 *   name: "CreateTodo",
 *   route: { method: "POST", path: "/todos" },
 * };
 * ```
 */
export interface GenOptions {
  /** The app root (where `src/` is). */
  root: string;
  /** What to generate. */
  kind: GenKind;
  /** Its name, e.g. `CreateTodo`. */
  name: string;
  /** The port a handler depends on or an adapter implements. */
  port?: string;
  /** A route to add for a command or query. */
  route?: RouteSpec;
  /** The app module, when it is not found automatically. */
  app?: string;
  /** Leave out the test file beside a command, query or adapter. */
  noTest?: boolean;
}

/**
 * One file the generation creates or rewrites.
 *
 * @example
 * ```ts
 * import type { PlannedFile } from "./plan.ts";
 * const file: PlannedFile = { path: "src/app.ts", content: "...", action: "update", before: null };
 * ```
 */
export interface PlannedFile {
  /** Path relative to the app root, `/` separated. */
  path: string;
  /** The complete new content. */
  content: string;
  /** Whether the file is new. */
  action: "create" | "update";
  /**
   * Hex SHA-256 of the content the plan was made from (`null`: the file must not
   * exist), so the writer can refuse a file that changed since, e.g. by a concurrent
   * `krepis gen`.
   */
  before: string | null;
}

/**
 * The outcome of planning.
 *
 * @example
 * ```ts
 * import type { Plan } from "./plan.ts";
 * const empty: Plan = { files: [], notes: [] };
 * ```
 */
export interface Plan {
  /** Files to write, new ones first. */
  files: PlannedFile[];
  /** Things the user should know (e.g. nothing to register a port in). */
  notes: string[];
}

const DIRS: Record<GenKind, string> = {
  command: "src/application/commands",
  query: "src/application/queries",
  port: "src/ports",
  adapter: "src/adapters",
};

interface FoundPort {
  file: SourceFile;
  typeName: string;
  constant: string;
}

/** Finds the port interface `name` and its `definePort<Name>(...)` constant under src/ports. */
function findPort(files: SourceFile[], name: Names): FoundPort {
  for (const file of files) {
    if (!file.getFilePath().includes("/src/ports/")) continue;
    const iface = file.getInterface(name.pascal) ??
      file.getTypeAlias(name.pascal);
    if (!iface) continue;
    const constant = file.getVariableDeclarations().find((v) => {
      const init = v.getInitializer();
      return init !== undefined && Node.isCallExpression(init) &&
        init.getExpression().getText() === "definePort" &&
        init.getTypeArguments()[0]?.getText() === name.pascal;
    });
    if (!constant) {
      throw new Error(
        `${
          relativePath(resolve("."), file.getFilePath())
        } declares ${name.pascal} but no ` +
          `\`export const ${name.pascal}Port = definePort<${name.pascal}>(...)\``,
      );
    }
    return { file, typeName: name.pascal, constant: constant.getName() };
  }
  throw new Error(
    `no port ${name.pascal} under src/ports; create it with \`krepis gen port ${name.pascal}\``,
  );
}

function portRef(found: FoundPort, fromFile: string): PortRef {
  const depName = found.typeName[0].toLowerCase() + found.typeName.slice(1);
  return {
    type: found.typeName,
    constant: found.constant,
    specifier: importSpecifier(fromFile, found.file.getFilePath()),
    depName,
  };
}

/** The port's methods, with parameter names prefixed by `_` for the stubs. */
function portMethods(found: FoundPort): MethodSignature[] {
  const decl = found.file.getInterface(found.typeName);
  if (!decl) return [];
  return decl.getMethods().map((m) => ({
    name: m.getName(),
    params: m.getParameters().map((p) => {
      const text = p.getText();
      return text.startsWith("_") ? text : `_${text}`;
    }).join(", "),
    returns: m.getReturnTypeNode()?.getText() ?? "",
    args: m.getParameters().slice(1).map((p) => ({
      name: p.getName(),
      text: p.getText(),
    })),
  }));
}

/** Hex SHA-256 of `text` as UTF-8. */
function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The `:name` parameters of a route path.
 *
 * @example
 * ```ts
 * import { pathParams } from "./plan.ts";
 * pathParams("/notes/:id/archive"); // ["id"]
 * ```
 */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/:([A-Za-z_$][\w$]*)/g)].map((m) => m[1]);
}

/** Import lines the adapter needs for the types its stubs mention. */
function typeImports(found: FoundPort, adapterPath: string): string[] {
  const decl = found.file.getInterface(found.typeName);
  if (!decl) return [];
  const used = new Set<string>();
  for (const m of decl.getMethods()) {
    for (const ref of m.getDescendantsOfKind(SyntaxKind.TypeReference)) {
      used.add(ref.getTypeName().getText().split(".")[0]);
    }
  }
  const lines: string[] = [];
  for (const imp of found.file.getImportDeclarations()) {
    const names = imp.getNamedImports().map((n) => n.getName()).filter((n) =>
      used.has(n)
    );
    if (names.length === 0) continue;
    const spec = imp.getModuleSpecifierValue();
    const target = spec.startsWith(".")
      ? importSpecifier(
        adapterPath,
        resolve(found.file.getDirectoryPath(), spec),
      )
      : spec;
    lines.push(`import type { ${names.join(", ")} } from "${target}";`);
  }
  const local = [...used].filter((n) =>
    n !== found.typeName &&
    (found.file.getInterface(n)?.isExported() ||
      found.file.getTypeAlias(n)?.isExported())
  );
  if (local.length > 0) {
    lines.push(
      `import type { ${local.join(", ")} } from "${
        importSpecifier(adapterPath, found.file.getFilePath())
      }";`,
    );
  }
  return lines;
}

/**
 * Plan a generation without writing anything.
 *
 * @example
 * ```ts ignore
 * import { planGeneration } from "./plan.ts";
 * const plan = planGeneration({ root: "my-app", kind: "command", name: "CreateTodo" });
 * for (const f of plan.files) console.log(f.action, f.path);
 * ```
 */
export function planGeneration(options: GenOptions): Plan {
  const n = names(options.name);
  if (options.route && options.kind !== "command" && options.kind !== "query") {
    throw new UsageError("--route is only for commands and queries");
  }
  if (options.kind === "adapter" && !options.port) {
    throw new UsageError(
      "an adapter implements a port: pass --port <PortName>",
    );
  }
  if (options.kind === "port" && options.port) {
    throw new UsageError("--port is for commands, queries and adapters");
  }
  const app = loadApp(options.root);
  const rel = `${DIRS[options.kind]}/${n.snake}.ts`;
  const abs = join(app.root, rel);
  if (existsSync(abs)) {
    throw new Error(`${rel} already exists; nothing was generated`);
  }

  const port = options.port
    ? findPort(app.files, names(options.port))
    : undefined;
  const ref = port && portRef(port, abs);
  const params = options.route ? pathParams(options.route.path) : [];
  let content: string;
  let test: string | undefined;
  let exported: string;
  switch (options.kind) {
    case "command":
    case "query":
      content = handlerModule(options.kind, n, ref, params);
      test = handlerTestModule(options.kind, n, ref, params);
      exported = `${n.camel}${
        options.kind === "command" ? "Command" : "Query"
      }`;
      break;
    case "port":
      content = portModule(n);
      exported = `${n.pascal}Port`;
      break;
    case "adapter": {
      const memory = /^(In)?Memory/.test(n.pascal);
      const methods = portMethods(port!);
      content = (memory ? memoryAdapterModule : adapterModule)(
        n,
        ref!,
        methods,
        typeImports(port!, abs),
      );
      test = adapterTestModule(n, methods, memory);
      exported = n.pascal;
      break;
    }
  }
  const plan: Plan = {
    files: [{ path: rel, content, action: "create", before: null }],
    notes: [],
  };
  if (test !== undefined && !options.noTest) {
    const testRel = rel.replace(/\.ts$/, "_test.ts");
    if (!existsSync(join(app.root, testRel))) {
      plan.files.push({
        path: testRel,
        content: test,
        action: "create",
        before: null,
      });
    }
  }
  if (options.kind === "port") {
    plan.notes.push(
      `bind an adapter to ${exported}: krepis gen adapter Memory${n.pascal} --port ${n.pascal}`,
    );
    return plan;
  }

  const appFile = options.app
    ? app.project.getSourceFile(resolve(options.app))
    : findAppModule(app.files);
  const call = appFile && findCreateApp(appFile);
  if (!appFile || !call) {
    if (options.route) {
      throw new Error(
        "no createApp({...}) call found to add the route to; pass --app <file>",
      );
    }
    plan.notes.push(
      `no createApp({...}) call found; register ${exported} in your app yourself`,
    );
    return plan;
  }
  const appPath = appFile.getFilePath();
  const before = sha256(appFile.getFullText());
  ensureNamedImport(appFile, exported, importSpecifier(appPath, abs));
  if (options.kind === "adapter") {
    ensureNamedImport(appFile, "provide", "@krepis/core");
    ensureNamedImport(
      appFile,
      port!.constant,
      importSpecifier(appPath, port!.file.getFilePath()),
    );
    const how = bindAdapter(
      call,
      port!.constant,
      `provide(${port!.constant}, new ${exported}())`,
    );
    if (how === "replaced") {
      plan.notes.push(
        `replaced the earlier adapter bound to ${port!.constant}`,
      );
    }
  } else {
    registerInApp(
      call,
      options.kind === "command" ? "commands" : "queries",
      exported,
    );
    if (options.route) {
      ensureNamedImport(appFile, "route", "@krepis/core");
      addRoute(call, options.route, exported);
    }
  }
  plan.files.push({
    path: relativePath(app.root, appPath),
    content: appFile.getFullText(),
    action: "update",
    before,
  });
  return plan;
}
