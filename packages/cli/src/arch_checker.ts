/**
 * The architecture checker: walks one ts-morph source file and reports
 * imports and calls that break the Trinity layering (see `arch_rules.ts`).
 *
 * @module
 */

import {
  type CallExpression,
  type Identifier,
  Node,
  Project,
  type SourceFile,
  type Symbol as MorphSymbol,
  SyntaxKind,
} from "ts-morph";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  appCompilerOptions,
  appSourceFiles,
  classifyPath,
  GLOBAL_OBJECTS,
  IO_GLOBALS,
  isTestFile,
  judgeComputedImport,
  judgeGlobal,
  judgeImport,
  type LayerFinding,
  relativePath,
  type Report,
  type Role,
  sortViolations,
  type Violation,
} from "@krepis/smart-gen";
import { ARCH_RULES, isWriteMethod } from "./arch_rules.ts";

class FileCheck {
  readonly violations: Violation[] = [];
  readonly role: Role | undefined;

  constructor(readonly root: string, readonly file: SourceFile) {
    this.role = classifyPath(file.getFilePath());
  }

  report(rule: string, at: Node, message: string, hint: string): void {
    const { line, column } = this.file.getLineAndColumnAtPos(at.getStart());
    this.violations.push({
      rule,
      file: relativePath(this.root, this.file.getFilePath()),
      line,
      column,
      message,
      hint,
    });
  }

  flag(finding: LayerFinding | undefined, at: Node): void {
    if (finding) this.report(finding.rule, at, finding.message, finding.hint);
  }

  /**
   * Import and re-export declarations with a string specifier, and dynamic
   * `import()` calls (`specifier` undefined when it is computed at run time).
   */
  *imports(): Generator<
    { specifier?: string; at: Node; target?: SourceFile }
  > {
    for (
      const decl of [
        ...this.file.getImportDeclarations(),
        ...this.file.getExportDeclarations(),
      ]
    ) {
      const literal = decl.getModuleSpecifier();
      if (literal === undefined) continue;
      yield {
        specifier: decl.getModuleSpecifierValue()!,
        at: literal,
        target: decl.getModuleSpecifierSourceFile(),
      };
    }
    for (
      const call of this.file.getDescendantsOfKind(SyntaxKind.CallExpression)
    ) {
      if (call.getExpression().getKind() !== SyntaxKind.ImportKeyword) continue;
      const [arg] = call.getArguments();
      yield Node.isStringLiteral(arg) ||
          Node.isNoSubstitutionTemplateLiteral(arg)
        ? { specifier: arg.getLiteralValue(), at: arg }
        : { at: arg ?? call };
    }
  }

  targetRole(
    specifier: string,
    target: SourceFile | undefined,
  ): Role | undefined {
    if (target !== undefined) return classifyPath(target.getFilePath());
    if (specifier.startsWith(".")) {
      return classifyPath(resolve(dirname(this.file.getFilePath()), specifier));
    }
    return undefined;
  }

  /** Imports across layers: static, re-exports and dynamic `import()`. */
  layering(): void {
    for (const { specifier, at, target } of this.imports()) {
      this.flag(
        specifier === undefined ? judgeComputedImport(this.role) : judgeImport(
          this.role,
          specifier,
          this.targetRole(specifier, target),
        ),
        at,
      );
    }
  }

  /** I/O globals, by name (`Deno`) or through the global object (`globalThis["Deno"]`). */
  ioGlobals(): void {
    if (this.role !== "domain") return;
    for (const id of this.file.getDescendantsOfKind(SyntaxKind.Identifier)) {
      const name = id.getText();
      if (
        (!IO_GLOBALS.has(name) && !GLOBAL_OBJECTS.has(name)) ||
        !isFreeReference(id, this.file)
      ) continue;
      if (IO_GLOBALS.has(name)) {
        this.flag(judgeGlobal(this.role, name), id);
        continue;
      }
      const parent = id.getParent();
      if (
        Node.isPropertyAccessExpression(parent) && parent.getExpression() === id
      ) {
        this.flag(judgeGlobal(this.role, parent.getName(), name), parent);
      } else if (
        Node.isElementAccessExpression(parent) && parent.getExpression() === id
      ) {
        const key = parent.getArgumentExpression();
        const literal = Node.isStringLiteral(key) ||
            Node.isNoSubstitutionTemplateLiteral(key)
          ? key.getLiteralValue()
          : undefined;
        this.flag(judgeGlobal(this.role, literal, name), parent);
      } else if (!Node.isTypeQuery(parent)) {
        // The global object handed around (`const g = globalThis`) reaches anything.
        this.flag(judgeGlobal(this.role, undefined, name), id);
      }
    }
  }

  queryCalls(): void {
    if (this.role !== "query") return;
    for (
      const call of this.file.getDescendantsOfKind(SyntaxKind.CallExpression)
    ) {
      this.queryCall(call);
    }
  }

  queryCall(call: CallExpression): void {
    const callee = call.getExpression();
    // `createTodo(...)`, `createTodo.handle(...)` or `app.execute(ctx, createTodo, ...)`.
    const candidates = [
      rootIdentifier(callee),
      ...call.getArguments().filter(Node.isIdentifier),
    ];
    const command = candidates.find((id) =>
      id !== undefined && declaredIn(id.getSymbol()).includes("command")
    );
    if (command !== undefined) {
      this.report(
        ARCH_RULES.queryInvokesCommand,
        callee,
        `a query invokes the command \`${command.getText()}\`; queries only read`,
        "move the state change into a command and let the caller run it",
      );
      return;
    }
    if (!Node.isPropertyAccessExpression(callee)) return;
    const method = callee.getNameNode();
    const symbol = method.getSymbol();
    const portDecls = (symbol?.getDeclarations() ?? []).filter((d) =>
      classifyPath(d.getSourceFile().getFilePath()) === "port"
    );
    if (portDecls.length === 0) return;
    const name = method.getText();
    const declared = portDecls.map((d) => declaredWrites(d)).find((w) =>
      w !== undefined
    );
    const tags = portDecls.flatMap((d) =>
      Node.isJSDocable(d)
        ? d.getJsDocs().flatMap((doc) =>
          doc.getTags().map((t) => t.getTagName())
        )
        : []
    );
    if (declared ? !declared.has(name) : !isWriteMethod(name, tags)) return;
    this.report(
      ARCH_RULES.queryWritesPort,
      method,
      `a query calls the writing port method \`${method.getText()}\`; queries only read`,
      "do the write in a command; if the method only reads, leave it out of the port's `writes` list (or tag it `@read`)",
    );
  }
}

/**
 * The `writes` list of the `definePort<T>(name, { writes: [...] })` call that
 * defines the port whose interface declares `member`, when the port file has
 * one: the framework's own record of which methods write.
 */
function declaredWrites(member: Node): Set<string> | undefined {
  const owner = member.getParent();
  if (
    !Node.isInterfaceDeclaration(owner) && !Node.isTypeAliasDeclaration(owner)
  ) {
    return undefined;
  }
  const ownerName = owner.getName();
  for (
    const call of member.getSourceFile().getDescendantsOfKind(
      SyntaxKind.CallExpression,
    )
  ) {
    if (call.getExpression().getText() !== "definePort") continue;
    if (call.getTypeArguments()[0]?.getText() !== ownerName) continue;
    const options = call.getArguments()[1];
    if (!Node.isObjectLiteralExpression(options)) continue;
    const writes = options.getProperty("writes");
    const list = Node.isPropertyAssignment(writes)
      ? writes.getInitializer()
      : undefined;
    if (!list || !Node.isArrayLiteralExpression(list)) continue;
    return new Set(
      list.getElements().filter(Node.isStringLiteral).map((e) =>
        e.getLiteralValue()
      ),
    );
  }
  return undefined;
}

/** The leftmost identifier of `a.b.c` / `a` / `a.b()`, if any. */
function rootIdentifier(node: Node): Identifier | undefined {
  let current = node;
  while (
    Node.isPropertyAccessExpression(current) || Node.isCallExpression(current)
  ) {
    current = current.getExpression();
  }
  return Node.isIdentifier(current) ? current : undefined;
}

/** Roles of the files that declare `symbol` (following import aliases). */
function declaredIn(symbol: MorphSymbol | undefined): (Role | undefined)[] {
  if (symbol === undefined) return [];
  const target = symbol.isAlias()
    ? symbol.getAliasedSymbol() ?? symbol
    : symbol;
  return target.getDeclarations().map((d) =>
    classifyPath(d.getSourceFile().getFilePath())
  );
}

/** Whether `id` reads a global (not a property name, key or local binding). */
function isFreeReference(id: Identifier, file: SourceFile): boolean {
  const parent = id.getParent();
  if (Node.isPropertyAccessExpression(parent) && parent.getNameNode() === id) {
    return false;
  }
  if (Node.isPropertyAssignment(parent) && parent.getNameNode() === id) {
    return false;
  }
  if (Node.isQualifiedName(parent) && parent.getRight() === id) return false;
  const decls = id.getSymbol()?.getDeclarations() ?? [];
  return !decls.some((d) => d.getSourceFile() === file);
}

/** Check one source file against the architecture rules. */
function checkArchFile(root: string, file: SourceFile): Violation[] {
  const check = new FileCheck(root, file);
  check.layering();
  check.ioGlobals();
  check.queryCalls();
  return check.violations;
}

/**
 * Check the apps under `dirs` against the architecture rules. Imports are
 * resolved the way Deno resolves them (relative `.ts` paths and the local
 * entries of `deno.json` import maps), with the TypeScript checker.
 *
 * @example
 * ```ts ignore
 * import { checkArch } from "./arch_checker.ts";
 * const report = checkArch(["examples/todo"]);
 * console.log(report.violations.length);
 * ```
 */
export function checkArch(dirs: string[]): Report {
  const report: Report = { filesChecked: 0, violations: [] };
  for (const dir of dirs) {
    const root = resolve(dir);
    if (!existsSync(root)) throw new Error(`no such directory: ${dir}`);
    const project = new Project({
      compilerOptions: appCompilerOptions(root),
      skipAddingFilesFromTsConfig: true,
    });
    const files = appSourceFiles(root)
      .filter((f) => !isTestFile(f))
      .map((f) => project.addSourceFileAtPath(f));
    report.filesChecked += files.length;
    for (const file of files) {
      report.violations.push(...checkArchFile(root, file));
    }
  }
  report.violations = sortViolations(report.violations);
  return report;
}
