/**
 * The `ctx-first` checker over a ts-morph project: every exported function
 * and method in commands, queries, ports and adapters, and every handler
 * passed to `defineCommand`/`defineQuery`, takes `ctx: KrepisContext` first.
 *
 * @module
 */

import {
  Node,
  type ParameterDeclaration,
  type SourceFile,
  SyntaxKind,
} from "ts-morph";
import { classifyPath, CTX_ROLES } from "./classify.ts";
import {
  CTX_RULE,
  HANDLER_FACTORIES,
  HANDLER_KEYS,
  judgeFirstParam,
  type ParamShape,
} from "./ctx_rule.ts";
import type { Violation } from "./report.ts";
import { relativePath } from "./project.ts";

/** A function-like node with parameters that must take the context first. */
type Callable = Node & { getParameters(): ParameterDeclaration[] };

function firstParam(fn: Callable): ParamShape | undefined {
  const param = fn.getParameters().find((p) => p.getName() !== "this");
  if (param === undefined) return undefined;
  const nameNode = param.getNameNode();
  return {
    name: Node.isIdentifier(nameNode) ? nameNode.getText() : undefined,
    typeText: param.getTypeNode()?.getText(),
    rest: param.isRestParameter(),
  };
}

/** Strip `as`, `satisfies` and parentheses around an expression. */
function unwrap(node: Node): Node {
  let current = node;
  while (
    Node.isAsExpression(current) || Node.isSatisfiesExpression(current) ||
    Node.isParenthesizedExpression(current)
  ) {
    current = current.getExpression();
  }
  return current;
}

function isFunctionValue(node: Node): node is Callable {
  return Node.isArrowFunction(node) || Node.isFunctionExpression(node);
}

function isPublicMember(member: Node): boolean {
  if (Node.isModifierable(member)) {
    if (member.hasModifier(SyntaxKind.PrivateKeyword)) return false;
    if (member.hasModifier(SyntaxKind.ProtectedKeyword)) return false;
  }
  const name = (member as Node & { getName?: () => string }).getName?.();
  return !(name?.startsWith("#"));
}

class Collector {
  readonly violations: Violation[] = [];
  constructor(readonly root: string, readonly file: SourceFile) {}

  check(subject: string, at: Node, fn: Callable, contextual: boolean): void {
    const finding = judgeFirstParam(subject, firstParam(fn), contextual);
    if (finding === undefined) return;
    const { line, column } = this.file.getLineAndColumnAtPos(at.getStart());
    this.violations.push({
      rule: CTX_RULE,
      file: relativePath(this.root, this.file.getFilePath()),
      line,
      column,
      ...finding,
    });
  }

  /** Members of an interface or type literal: method and function-typed property signatures. */
  typeMembers(owner: string, members: Node[]): void {
    for (const member of members) {
      if (Node.isMethodSignature(member)) {
        this.check(
          `${owner}.${member.getName()}`,
          member.getNameNode(),
          member,
          false,
        );
      } else if (Node.isPropertySignature(member)) {
        const type = member.getTypeNode();
        if (type && Node.isFunctionTypeNode(type)) {
          this.check(
            `${owner}.${member.getName()}`,
            member.getNameNode(),
            type,
            false,
          );
        }
      }
    }
  }

  objectMembers(owner: string, object: Node): void {
    if (!Node.isObjectLiteralExpression(object)) return;
    for (const prop of object.getProperties()) {
      if (Node.isMethodDeclaration(prop)) {
        this.check(
          `${owner}.${prop.getName()}`,
          prop.getNameNode(),
          prop,
          true,
        );
      } else if (Node.isPropertyAssignment(prop)) {
        const value = unwrap(prop.getInitializerOrThrow());
        if (isFunctionValue(value)) {
          this.check(
            `${owner}.${prop.getName()}`,
            prop.getNameNode(),
            value,
            true,
          );
        }
      }
    }
  }

  exported(name: string, decl: Node): void {
    if (Node.isFunctionDeclaration(decl)) {
      const at = decl.getNameNode() ??
        decl.getFirstChildByKind(SyntaxKind.FunctionKeyword);
      this.check(name, at ?? decl, decl, false);
    } else if (Node.isVariableDeclaration(decl)) {
      const init = decl.getInitializer();
      if (init === undefined) return;
      const value = unwrap(init);
      const annotated = decl.getTypeNode() !== undefined;
      if (isFunctionValue(value)) {
        this.check(name, decl.getNameNode(), value, annotated);
      } else this.objectMembers(name, value);
    } else if (Node.isClassDeclaration(decl)) {
      for (const member of decl.getMembers()) {
        if (!isPublicMember(member)) continue;
        if (Node.isMethodDeclaration(member)) {
          this.check(
            `${name}.${member.getName()}`,
            member.getNameNode(),
            member,
            false,
          );
        } else if (Node.isPropertyDeclaration(member)) {
          const init = member.getInitializer();
          const value = init && unwrap(init);
          if (value && isFunctionValue(value)) {
            const annotated = member.getTypeNode() !== undefined;
            this.check(
              `${name}.${member.getName()}`,
              member.getNameNode(),
              value,
              annotated,
            );
          }
        }
      }
    } else if (Node.isInterfaceDeclaration(decl)) {
      this.typeMembers(name, decl.getMembers());
    } else if (Node.isTypeAliasDeclaration(decl)) {
      const type = decl.getTypeNode();
      if (type && Node.isTypeLiteral(type)) {
        this.typeMembers(name, type.getMembers());
      } else if (type && Node.isFunctionTypeNode(type)) {
        this.check(name, decl.getNameNode(), type, false);
      }
    }
  }

  /** Handlers given to `defineCommand`/`defineQuery`, anywhere in the file. */
  handlers(): void {
    for (
      const call of this.file.getDescendantsOfKind(SyntaxKind.CallExpression)
    ) {
      const callee = call.getExpression();
      const calleeName = Node.isIdentifier(callee)
        ? callee.getText()
        : Node.isPropertyAccessExpression(callee)
        ? callee.getName()
        : undefined;
      if (calleeName === undefined || !HANDLER_FACTORIES.has(calleeName)) {
        continue;
      }
      for (const arg of call.getArguments()) {
        const value = unwrap(arg);
        if (isFunctionValue(value)) {
          this.check(`${calleeName} handler`, value, value, true);
        } else if (Node.isObjectLiteralExpression(value)) {
          for (const prop of value.getProperties()) {
            if (
              !(Node.isMethodDeclaration(prop) ||
                Node.isPropertyAssignment(prop))
            ) continue;
            if (!HANDLER_KEYS.has(prop.getName())) continue;
            const fn = Node.isMethodDeclaration(prop)
              ? prop
              : unwrap(prop.getInitializerOrThrow());
            if (Node.isMethodDeclaration(fn) || isFunctionValue(fn)) {
              this.check(
                `${calleeName} ${prop.getName()}`,
                prop.getNameNode(),
                fn,
                true,
              );
            }
          }
        }
      }
    }
  }
}

/**
 * Check one source file and return its `ctx-first` violations; `root` is
 * the directory reported paths are relative to.
 *
 * @example
 * ```ts ignore
 * import { Project } from "ts-morph";
 * import { checkCtxFile } from "./ctx_checker.ts";
 * const project = new Project({ useInMemoryFileSystem: true });
 * const file = project.createSourceFile("/app/src/ports/repo.ts",
 *   "export interface Repo { save(todo: string): void }");
 * checkCtxFile("/app", file).length; // 1
 * ```
 */
export function checkCtxFile(root: string, file: SourceFile): Violation[] {
  const collector = new Collector(root, file);
  const role = classifyPath(file.getFilePath());
  if (role !== undefined && CTX_ROLES.has(role)) {
    for (const [name, decls] of file.getExportedDeclarations()) {
      for (const decl of decls) {
        if (decl.getSourceFile() !== file) continue;
        const shown = name === "default" ? "default export" : name;
        collector.exported(shown, decl);
      }
    }
  }
  collector.handlers();
  return collector.violations.sort((a, b) =>
    a.line - b.line || a.column - b.column
  );
}
