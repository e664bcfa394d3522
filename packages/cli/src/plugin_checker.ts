/**
 * The plugin analyser behind `krepis plugin check`: walks a plugin's module graph from its
 * entry (every local file it imports, statically or with a literal dynamic `import()`) and
 * compares each use of a permission-gated API with the permissions the manifest declares.
 * Which API needs what lives in `plugin_rules.ts`; this module only walks syntax.
 *
 * @module
 */

import {
  type Expression,
  type Identifier,
  ModuleKind,
  ModuleResolutionKind,
  Node,
  Project,
  ScriptTarget,
  type SourceFile,
  SyntaxKind,
} from "ts-morph";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import {
  relativePath,
  sortViolations,
  type Violation,
} from "@krepis/smart-gen";
import {
  type ArgKind,
  type DeclaredPermissions,
  DENO_APIS,
  DENO_ENV_APIS,
  DYNAMIC_GLOBALS,
  DYNAMIC_NODE_MODULES,
  flagFor,
  GLOBAL_OBJECTS,
  hostCovered,
  isGatedNodeModule,
  type Need,
  nodeNeeds,
  pathCovered,
  PLUGIN_RULES,
  WEB_APIS,
} from "./plugin_rules.ts";

/** Version tag of the report format (part of what `krepis plugin sign` signs). */
export const PLUGIN_CHECKER = "krepis-plugin-check/1";

/**
 * One finding: a {@linkcode Violation} with a severity and, for permissions, the flag that
 * would grant it.
 *
 * @example
 * ```ts
 * import type { PluginFinding } from "./plugin_checker.ts";
 * const f: PluginFinding = {
 *   rule: "undeclared-permission", severity: "error", file: "mod.ts", line: 2, column: 9,
 *   message: "`Deno.readTextFile` reads \"/etc/passwd\"", hint: "add it to permissions.read",
 *   permission: "--allow-read=/etc/passwd",
 * };
 * ```
 */
export interface PluginFinding extends Violation {
  /** Errors fail the check; warnings are printed and signed along. */
  severity: "error" | "warning";
  /** The Deno flag the code would need, for permission findings. */
  permission?: string;
}

/**
 * The analyser's report (what `--json` prints and `krepis plugin sign` signs).
 *
 * @example
 * ```ts
 * import type { PluginReport } from "./plugin_checker.ts";
 * const clean: PluginReport = {
 *   checker: "krepis-plugin-check/1", plugin: "greeter", manifestSha256: "9f86d0…",
 *   files: [{ path: "mod.ts", sha256: "2c26b4…" }],
 *   filesChecked: 1, errors: 0, warnings: 0, findings: [],
 * };
 * ```
 */
export interface PluginReport {
  /** Report format, {@linkcode PLUGIN_CHECKER}. */
  checker: string;
  /** The plugin's name. */
  plugin: string;
  /** SHA-256 (hex) of the `krepis.plugin.json` the permissions were read from. */
  manifestSha256: string;
  /** The module graph: paths relative to the plugin directory, SHA-256 of what was analysed. */
  files: { path: string; sha256: string }[];
  /** How many modules were analysed. */
  filesChecked: number;
  /** Findings with severity `error`. */
  errors: number;
  /** Findings with severity `warning`. */
  warnings: number;
  /** Every finding, sorted by file and position. */
  findings: PluginFinding[];
}

interface Manifest {
  name: string;
  entry: string;
  permissions: Partial<DeclaredPermissions>;
}

function declared(p: Partial<DeclaredPermissions>): DeclaredPermissions {
  return {
    read: p.read ?? [],
    write: p.write ?? [],
    net: p.net ?? [],
    env: p.env ?? [],
    run: p.run ?? false,
    ffi: p.ffi ?? false,
    sys: p.sys ?? false,
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A resource named by an argument: known exactly, or not statically known. */
type Resource =
  | { known: true; value: string; host?: string; port?: number }
  | { known: false };

const UNKNOWN: Resource = { known: false };

const DEFAULT_PORTS: Record<string, number> = {
  "http:": 80,
  "https:": 443,
  "ws:": 80,
  "wss:": 443,
};

/** The string an expression certainly evaluates to, following `const` bindings. */
function literal(expr: Node | undefined, depth = 0): string | undefined {
  if (expr === undefined || depth > 4) return undefined;
  if (
    Node.isStringLiteral(expr) || Node.isNoSubstitutionTemplateLiteral(expr)
  ) {
    return expr.getLiteralValue();
  }
  if (Node.isParenthesizedExpression(expr) || Node.isAsExpression(expr)) {
    return literal(expr.getExpression(), depth + 1);
  }
  if (Node.isNewExpression(expr) && expr.getExpression().getText() === "URL") {
    const [first, base] = expr.getArguments();
    const value = literal(first, depth + 1);
    const baseValue = base === undefined ? undefined : literal(base, depth + 1);
    if (
      value === undefined || (base !== undefined && baseValue === undefined)
    ) {
      return undefined;
    }
    try {
      return new URL(value, baseValue).href;
    } catch {
      return undefined;
    }
  }
  if (Node.isIdentifier(expr)) {
    for (const decl of expr.getSymbol()?.getDeclarations() ?? []) {
      if (
        Node.isVariableDeclaration(decl) &&
        decl.getVariableStatement()?.getDeclarationKind() === "const"
      ) {
        return literal(decl.getInitializer(), depth + 1);
      }
    }
  }
  return undefined;
}

/** Scheme and authority of a template like `https://api.example.com/${id}`. */
function urlPrefix(expr: Node | undefined): string | undefined {
  if (!Node.isTemplateExpression(expr)) return undefined;
  const head = expr.getHead().getLiteralText();
  return /^[a-z]+:\/\/[^/?#]+[/?#]/i.test(head) ? head : undefined;
}

function urlResource(text: string | undefined): Resource {
  if (text === undefined) return UNKNOWN;
  try {
    const url = new URL(text);
    if (url.protocol === "file:") return UNKNOWN;
    const port = url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
    return { known: true, value: url.host, host: url.hostname, port };
  } catch {
    return UNKNOWN;
  }
}

function pathResource(expr: Node | undefined): Resource {
  const text = literal(expr);
  if (text === undefined) return UNKNOWN;
  return {
    known: true,
    value: text.startsWith("file:") ? fileURLToPath(text) : text,
  };
}

function hostResource(expr: Node | undefined, name: string): Resource {
  const direct = literal(expr);
  if (direct !== undefined) return { known: true, value: direct, host: direct };
  if (!Node.isObjectLiteralExpression(expr)) return UNKNOWN;
  const prop = (key: string) => {
    const p = expr.getProperty(key);
    return Node.isPropertyAssignment(p) ? p.getInitializer() : undefined;
  };
  const hostNode = prop("hostname") ?? prop("host");
  const host = hostNode === undefined
    ? (name.startsWith("listen") ? "0.0.0.0" : "127.0.0.1")
    : literal(hostNode);
  const portNode = prop("port");
  const port = Node.isNumericLiteral(portNode)
    ? portNode.getLiteralValue()
    : undefined;
  if (host === undefined || (portNode !== undefined && port === undefined)) {
    return UNKNOWN;
  }
  return {
    known: true,
    value: port === undefined ? host : `${host}:${port}`,
    host,
    port,
  };
}

function resourceOf(
  kind: ArgKind,
  expr: Node | undefined,
  api: string,
): Resource {
  switch (kind) {
    case "path":
      return pathResource(expr);
    case "url":
      return urlResource(literal(expr) ?? urlPrefix(expr));
    case "host":
      return hostResource(expr, api);
    case "env": {
      const name = literal(expr);
      return name === undefined ? UNKNOWN : { known: true, value: name };
    }
    case "none":
      return UNKNOWN;
  }
}

class ModuleCheck {
  readonly findings: PluginFinding[] = [];
  readonly follow: string[] = [];
  /** Local name → `node:` module, for default and namespace imports. */
  readonly #nodeNamespaces = new Map<string, string>();
  /** Local name → [`node:` module, exported name], for named imports. */
  readonly #nodeNames = new Map<string, [string, string]>();

  constructor(
    readonly root: string,
    readonly file: SourceFile,
    readonly permissions: DeclaredPermissions,
  ) {}

  report(
    severity: PluginFinding["severity"],
    rule: string,
    at: Node,
    message: string,
    hint: string,
    permission?: string,
  ): void {
    const { line, column } = this.file.getLineAndColumnAtPos(at.getStart());
    this.findings.push({
      rule,
      severity,
      file: relativePath(this.root, this.file.getFilePath()),
      line,
      column,
      message,
      hint,
      ...(permission === undefined ? {} : { permission }),
    });
  }

  run(): void {
    this.imports();
    for (const node of this.file.getDescendants()) {
      if (Node.isIdentifier(node)) this.identifier(node);
      else if (Node.isCallExpression(node)) this.dynamicImport(node);
    }
  }

  /** Static imports and re-exports: local files are followed, `node:` modules recorded. */
  imports(): void {
    for (const decl of this.file.getImportDeclarations()) {
      if (decl.isTypeOnly()) continue;
      const specifier = decl.getModuleSpecifierValue();
      const module = this.specifier(specifier, decl.getModuleSpecifier());
      if (module === undefined) continue;
      const ns = decl.getNamespaceImport() ?? decl.getDefaultImport();
      if (ns) this.#nodeNamespaces.set(ns.getText(), module);
      for (const named of decl.getNamedImports()) {
        const local = named.getAliasNode() ?? named.getNameNode();
        this.#nodeNames.set(local.getText(), [module, named.getName()]);
      }
    }
    for (const decl of this.file.getExportDeclarations()) {
      const literalNode = decl.getModuleSpecifier();
      if (literalNode === undefined || decl.isTypeOnly()) continue;
      this.specifier(decl.getModuleSpecifierValue()!, literalNode);
    }
  }

  /** Handles one import specifier; returns the `node:` module name when it is one. */
  specifier(specifier: string, at: Node): string | undefined {
    if (specifier.startsWith("node:")) {
      const base = specifier.slice(5);
      if (DYNAMIC_NODE_MODULES.has(base)) {
        this.report(
          "error",
          PLUGIN_RULES.dynamicCode,
          at,
          `imports "${specifier}", which runs code built at run time`,
          "plugins run only reviewed code; remove the import",
        );
      }
      return specifier;
    }
    if (
      specifier.startsWith("./") || specifier.startsWith("../") ||
      specifier.startsWith("file:")
    ) {
      const target = specifier.startsWith("file:")
        ? fileURLToPath(specifier)
        : resolve(dirname(this.file.getFilePath()), specifier);
      if (target !== this.root && !target.startsWith(this.root + sep)) {
        this.report(
          "error",
          PLUGIN_RULES.importEscapesPlugin,
          at,
          `imports "${specifier}", which is outside the plugin directory`,
          "copy the module into the plugin so it is checked and signed with it",
        );
      } else if (!existsSync(target) || !statSync(target).isFile()) {
        this.report(
          "error",
          PLUGIN_RULES.unanalysableImport,
          at,
          `imports "${specifier}", which does not exist`,
          "fix the path",
        );
      } else {
        this.follow.push(target);
      }
      return undefined;
    }
    this.report(
      "error",
      PLUGIN_RULES.unanalysableImport,
      at,
      `imports "${specifier}", which cannot be analysed or signed with the plugin`,
      "vendor the code into the plugin directory (only relative and node: imports are allowed)",
    );
    return undefined;
  }

  dynamicImport(call: Node): void {
    if (!Node.isCallExpression(call)) return;
    if (call.getExpression().getKind() !== SyntaxKind.ImportKeyword) return;
    const arg = call.getArguments()[0];
    const specifier = literal(arg);
    if (specifier === undefined) {
      this.report(
        "error",
        PLUGIN_RULES.dynamicCode,
        call,
        "`import()` of a computed specifier",
        "import a string literal so the module is analysed and signed",
      );
    } else {
      this.specifier(specifier, arg!);
    }
  }

  /** Whether `id` reads a global rather than a local binding or a property name. */
  isGlobal(id: Identifier): boolean {
    const parent = id.getParent();
    if (
      (Node.isPropertyAccessExpression(parent) &&
        parent.getNameNode() === id) ||
      (Node.isPropertyAssignment(parent) && parent.getNameNode() === id) ||
      // Types (`Deno.Command` in an annotation) are erased: no capability.
      Node.isQualifiedName(parent) ||
      Node.isImportSpecifier(parent) || Node.isImportClause(parent) ||
      Node.isNamespaceImport(parent) ||
      Node.isMethodDeclaration(parent) || Node.isPropertySignature(parent) ||
      Node.isPropertyDeclaration(parent) || Node.isTypeReference(parent)
    ) {
      return false;
    }
    const decls = id.getSymbol()?.getDeclarations() ?? [];
    return !decls.some((d) => d.getSourceFile() === this.file);
  }

  identifier(id: Identifier): void {
    const name = id.getText();
    const namespace = this.#nodeNamespaces.get(name);
    const named = this.#nodeNames.get(name);
    if (
      (namespace !== undefined || named !== undefined) &&
      !Node.isImportSpecifier(id.getParent()) &&
      !Node.isImportClause(id.getParent()) &&
      !Node.isNamespaceImport(id.getParent())
    ) {
      return this.nodeUse(id, namespace, named);
    }
    if (!this.isGlobal(id)) return;
    if (GLOBAL_OBJECTS.has(name)) return this.globalObject(id);
    this.globalUse(id, name);
  }

  /** `globalThis.X` reads the global X; anything else done with the global object hides it. */
  globalObject(id: Identifier): void {
    const parent = id.getParent();
    if (
      Node.isPropertyAccessExpression(parent) && parent.getExpression() === id
    ) {
      this.globalUse(parent, parent.getName());
      return;
    }
    this.report(
      "error",
      PLUGIN_RULES.dynamicCode,
      id,
      `\`${id.getText()}\` is used ${
        Node.isElementAccessExpression(parent)
          ? "with a computed key"
          : "as a value"
      }, which hides which globals are reached`,
      "use globals by name (e.g. `Deno.readTextFile`) so they can be checked",
    );
  }

  /** A use of the global `name` at `ref` (an identifier or `globalThis.name`). */
  globalUse(ref: Expression, name: string): void {
    if (DYNAMIC_GLOBALS.has(name)) {
      this.report(
        "error",
        PLUGIN_RULES.dynamicCode,
        ref,
        `\`${name}\` runs code built at run time`,
        "plugins run only reviewed code; remove it",
      );
      return;
    }
    const web = WEB_APIS.get(name);
    if (web !== undefined) return this.callUse(ref, name, web);
    if (name === "Deno") return this.denoUse(ref);
    if (name === "process") return this.processUse(ref);
  }

  denoUse(ref: Expression): void {
    const member = ref.getParent();
    if (
      !Node.isPropertyAccessExpression(member) || member.getExpression() !== ref
    ) {
      this.report(
        "error",
        PLUGIN_RULES.dynamicCode,
        ref,
        "`Deno` is used indirectly (aliased, passed or indexed), which hides the APIs reached",
        "call `Deno.<api>(...)` directly so its permission can be checked",
      );
      return;
    }
    const name = member.getName();
    if (name === "env") {
      const method = member.getParent();
      const needs = Node.isPropertyAccessExpression(method)
        ? DENO_ENV_APIS.get(method.getName())
        : undefined;
      if (needs === undefined || !Node.isPropertyAccessExpression(method)) {
        this.report(
          "error",
          PLUGIN_RULES.dynamicCode,
          member,
          "`Deno.env` is used indirectly",
          'call `Deno.env.get("NAME")` directly',
        );
        return;
      }
      return this.callUse(method, `Deno.env.${method.getName()}`, needs);
    }
    const needs = DENO_APIS.get(name);
    if (needs !== undefined) this.callUse(member, `Deno.${name}`, needs);
  }

  processUse(ref: Expression): void {
    const member = ref.getParent();
    if (
      !Node.isPropertyAccessExpression(member) || member.getName() !== "env"
    ) return;
    this.envAccess(member, "process.env");
  }

  /** `env.NAME`, `env["NAME"]`, or the whole `env` object. */
  envAccess(env: Node, label: string): void {
    const parent = env.getParent();
    let resource: Resource = UNKNOWN;
    if (
      Node.isPropertyAccessExpression(parent) && parent.getExpression() === env
    ) {
      resource = { known: true, value: parent.getName() };
    } else if (
      Node.isElementAccessExpression(parent) && parent.getExpression() === env
    ) {
      const key = literal(parent.getArgumentExpression());
      if (key !== undefined) resource = { known: true, value: key };
    }
    this.need(
      env,
      label,
      { permission: "env", arg: "env", index: 0 },
      resource,
    );
  }

  /** A use of a `node:` import binding. */
  nodeUse(
    id: Identifier,
    namespace: string | undefined,
    named: [string, string] | undefined,
  ): void {
    if (namespace !== undefined) {
      const member = id.getParent();
      if (
        !Node.isPropertyAccessExpression(member) ||
        member.getExpression() !== id
      ) {
        if (isGatedNodeModule(namespace)) {
          this.report(
            "error",
            PLUGIN_RULES.dynamicCode,
            id,
            `the "${namespace}" module is used indirectly (destructured, passed or indexed), which hides the APIs reached`,
            `call \`${id.getText()}.<api>(...)\` directly so its permission can be checked`,
          );
        }
        return;
      }
      if (
        namespace.replace(/^node:/, "") === "process" &&
        member.getName() === "env"
      ) {
        return this.envAccess(member, "process.env");
      }
      const needs = nodeNeeds(namespace, member.getName());
      if (needs !== undefined) {
        this.callUse(member, `${namespace} ${member.getName()}`, needs);
      }
      return;
    }
    const [module, exported] = named!;
    if (module.replace(/^node:/, "") === "process" && exported === "env") {
      return this.envAccess(id, "process.env");
    }
    const needs = nodeNeeds(module, exported);
    if (needs !== undefined) this.callUse(id, `${module} ${exported}`, needs);
  }

  /** `callee` must be called (or constructed) directly so its arguments can be read. */
  callUse(callee: Node, api: string, needs: readonly Need[]): void {
    const call = callee.getParent();
    const called =
      (Node.isCallExpression(call) || Node.isNewExpression(call)) &&
      call.getExpression() === callee;
    const args = called ? call.getArguments() : [];
    for (const need of needs) {
      const resource = called || need.arg === "none"
        ? resourceOf(need.arg, args[need.index], api)
        : UNKNOWN;
      this.need(called ? call : callee, api, need, resource);
    }
  }

  need(at: Node, api: string, need: Need, resource: Resource): void {
    const { permission } = need;
    const granted = this.permissions[permission];
    if (typeof granted === "boolean") {
      if (!granted) {
        this.report(
          "error",
          PLUGIN_RULES.undeclaredPermission,
          at,
          `\`${api}\` needs the ${permission} permission, which the manifest does not declare`,
          `set "permissions": { "${permission}": true } if the plugin really needs it`,
          flagFor(permission, undefined),
        );
      }
      return;
    }
    if (resource.known) {
      const covered = permission === "net"
        ? hostCovered(granted, resource.host ?? resource.value, resource.port)
        : permission === "env"
        ? granted.includes(resource.value)
        : pathCovered(granted, resource.value);
      if (!covered) {
        this.report(
          "error",
          PLUGIN_RULES.undeclaredPermission,
          at,
          `\`${api}\` needs ${permission} access to "${resource.value}", which the manifest does not declare`,
          `add "${resource.value}" to permissions.${permission} if the plugin really needs it`,
          flagFor(permission, resource.value),
        );
      }
      return;
    }
    if (granted.length === 0) {
      this.report(
        "error",
        PLUGIN_RULES.undeclaredPermission,
        at,
        `\`${api}\` needs ${permission} access (to a resource not known statically), and the manifest declares none`,
        `declare what it reaches in permissions.${permission}`,
        flagFor(permission, undefined),
      );
    } else {
      this.report(
        "warning",
        PLUGIN_RULES.unverifiablePermission,
        at,
        `\`${api}\` uses ${permission} access to a resource not known statically; Deno limits it to permissions.${permission} at run time`,
        "use a literal so the check can verify it",
        flagFor(permission, undefined),
      );
    }
  }
}

/**
 * Analyse the plugin in `dir` (its `krepis.plugin.json` already validated by the kernel):
 * the module graph from the entry, every permission-gated API use compared with the declared
 * permissions, and dynamic code.
 *
 * @example
 * ```ts ignore
 * import { checkPlugin } from "./plugin_checker.ts";
 * const report = checkPlugin("examples/plugins/greeter");
 * console.log(report.errors === 0);
 * ```
 */
export function checkPlugin(dir: string): PluginReport {
  const root = resolve(dir);
  const manifestBytes = readFileSync(join(root, "krepis.plugin.json"));
  const manifest = JSON.parse(manifestBytes.toString("utf8")) as Manifest;
  const permissions = declared(manifest.permissions ?? {});
  const project = new Project({
    compilerOptions: {
      target: ScriptTarget.ESNext,
      module: ModuleKind.ESNext,
      moduleResolution: ModuleResolutionKind.Bundler,
      allowImportingTsExtensions: true,
      allowJs: true,
      noEmit: true,
      skipLibCheck: true,
      // Only syntax and local bindings matter; loading the standard library's
      // declarations would cost most of the run.
      noLib: true,
    },
    skipAddingFilesFromTsConfig: true,
    skipFileDependencyResolution: true,
  });
  const queue = [resolve(root, manifest.entry)];
  // Each module is read once: the bytes hashed are the bytes analysed, so signing can
  // refuse files that changed after the check.
  const seen = new Map<string, string>();
  const findings: PluginFinding[] = [];
  while (queue.length > 0) {
    const path = queue.shift()!;
    if (seen.has(path)) continue;
    const bytes = readFileSync(path);
    seen.set(path, sha256(bytes));
    const check = new ModuleCheck(
      root,
      project.createSourceFile(path, bytes.toString("utf8"), {
        overwrite: true,
      }),
      permissions,
    );
    check.run();
    findings.push(...check.findings);
    queue.push(...check.follow);
  }
  const sorted = sortViolations(findings) as PluginFinding[];
  const errors = sorted.filter((f) => f.severity === "error").length;
  return {
    checker: PLUGIN_CHECKER,
    plugin: manifest.name,
    manifestSha256: sha256(manifestBytes),
    files: [...seen].map(([p, hash]) => ({
      path: relativePath(root, p),
      sha256: hash,
    })).sort((a, b) => a.path.localeCompare(b.path)),
    filesChecked: seen.size,
    errors,
    warnings: sorted.length - errors,
    findings: sorted,
  };
}

/**
 * Render a report for people: `file:line:col severity[rule] message`, the flag it needs
 * and a hint, then a summary.
 *
 * @example
 * ```ts
 * import { formatPluginReport } from "./plugin_checker.ts";
 * formatPluginReport({
 *   checker: "krepis-plugin-check/1", plugin: "p", manifestSha256: "9f86d0…",
 *   files: [{ path: "mod.ts", sha256: "2c26b4…" }], filesChecked: 1,
 *   errors: 0, warnings: 0, findings: [],
 * }); // "ok: plugin p, 1 module checked, no findings"
 * ```
 */
export function formatPluginReport(report: PluginReport): string {
  const lines: string[] = [];
  for (const f of report.findings) {
    lines.push(
      `${f.file}:${f.line}:${f.column} ${f.severity}[${f.rule}] ${f.message}`,
    );
    if (f.permission) lines.push(`  needs: ${f.permission}`);
    lines.push(`  hint: ${f.hint}`);
  }
  const modules = `${report.filesChecked} module${
    report.filesChecked === 1 ? "" : "s"
  } checked`;
  lines.push(
    report.findings.length === 0
      ? `ok: plugin ${report.plugin}, ${modules}, no findings`
      : `${
        report.errors === 0 ? "ok" : "failed"
      }: plugin ${report.plugin}, ${modules}, ${report.errors} error(s), ${report.warnings} warning(s)`,
  );
  return lines.join("\n");
}
