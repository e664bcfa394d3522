/**
 * Deno lint plugin with the `krepis/ctx-first` rule and the layer rules
 * (`krepis/domain-imports-infrastructure`, `krepis/domain-uses-deno-api`,
 * `krepis/application-imports-adapter`), so editors flag a missing
 * `ctx: KrepisContext` or an import across layers while the code is typed.
 * It applies the same path classification and the same verdicts as the
 * ts-morph checkers (`krepis check`).
 *
 * Enable it in `deno.json`:
 *
 * ```json
 * { "lint": { "plugins": ["./packages/smart-gen/lint_plugin.ts"] } }
 * ```
 *
 * @module
 */

import { dirname, resolve } from "node:path";
import {
  classifyPath,
  CTX_ROLES,
  isTestFile,
  type Role,
} from "./src/classify.ts";
import {
  CTX_RULE,
  HANDLER_FACTORIES,
  HANDLER_KEYS,
  judgeFirstParam,
  type ParamShape,
} from "./src/ctx_rule.ts";
import {
  GLOBAL_OBJECTS,
  IO_GLOBALS,
  judgeComputedImport,
  judgeGlobal,
  judgeImport,
  LAYER_RULES,
  type LayerFinding,
  type LayerRule,
} from "./src/layer_rule.ts";

type Node = Deno.lint.Node;
type Ctx = Deno.lint.RuleContext;
type Param = Deno.lint.Parameter;
/** Any node with a parameter list (functions, method signatures, function types). */
type WithParams = { params: Param[] };

function typeText(ctx: Ctx, node: Node | Param): string | undefined {
  const annotation =
    (node as { typeAnnotation?: { typeAnnotation: Node } | null })
      .typeAnnotation;
  return annotation
    ? ctx.sourceCode.getText(annotation.typeAnnotation)
    : undefined;
}

function shape(ctx: Ctx, param: Node | Param): ParamShape {
  switch (param.type) {
    case "Identifier":
      return { name: param.name, typeText: typeText(ctx, param) };
    case "AssignmentPattern":
      return shape(ctx, param.left);
    case "RestElement":
      return {
        name: param.argument.type === "Identifier"
          ? param.argument.name
          : undefined,
        typeText: typeText(ctx, param),
        rest: true,
      };
    case "TSParameterProperty":
      return shape(ctx, param.parameter);
    default:
      return { typeText: typeText(ctx, param) };
  }
}

function firstParam(ctx: Ctx, fn: WithParams): ParamShape | undefined {
  const first = fn.params.find((p) =>
    !(p.type === "Identifier" && p.name === "this")
  );
  return first && shape(ctx, first);
}

function keyName(key: Node): string | undefined {
  if (key.type === "Identifier") return key.name;
  if (key.type === "Literal") return String(key.value);
  return undefined;
}

function unwrap(node: Node): Node {
  let current = node;
  while (
    current.type === "TSAsExpression" ||
    current.type === "TSSatisfiesExpression"
  ) {
    current = current.expression;
  }
  return current;
}

function isFunctionValue(node: Node): node is Node & WithParams {
  return node.type === "ArrowFunctionExpression" ||
    node.type === "FunctionExpression";
}

function check(
  ctx: Ctx,
  subject: string,
  at: Node,
  fn: WithParams,
  contextual: boolean,
) {
  const finding = judgeFirstParam(subject, firstParam(ctx, fn), contextual);
  if (finding) {
    ctx.report({ node: at, message: finding.message, hint: finding.hint });
  }
}

function typeMembers(ctx: Ctx, owner: string, members: Node[]) {
  for (const member of members) {
    if (member.type === "TSMethodSignature" && member.kind === "method") {
      const name = keyName(member.key);
      if (name) check(ctx, `${owner}.${name}`, member.key, member, false);
    } else if (member.type === "TSPropertySignature") {
      const type = member.typeAnnotation?.typeAnnotation;
      const name = keyName(member.key);
      if (name && type?.type === "TSFunctionType") {
        check(ctx, `${owner}.${name}`, member.key, type, false);
      }
    }
  }
}

function objectMembers(ctx: Ctx, owner: string, object: Node) {
  if (object.type !== "ObjectExpression") return;
  for (const prop of object.properties) {
    if (prop.type !== "Property") continue;
    const name = keyName(prop.key);
    const value = unwrap(prop.value);
    if (name && isFunctionValue(value)) {
      check(ctx, `${owner}.${name}`, prop.key, value, true);
    }
  }
}

function exported(ctx: Ctx, name: string, decl: Node) {
  switch (decl.type) {
    case "FunctionDeclaration":
      check(ctx, name, decl.id ?? decl, decl, false);
      break;
    case "VariableDeclarator": {
      if (!decl.init) return;
      const value = unwrap(decl.init);
      const annotated = typeText(ctx, decl.id) !== undefined;
      if (isFunctionValue(value)) check(ctx, name, decl.id, value, annotated);
      else objectMembers(ctx, name, value);
      break;
    }
    case "ClassDeclaration":
      for (const member of decl.body.body) {
        if (
          member.type !== "MethodDefinition" &&
          member.type !== "PropertyDefinition"
        ) continue;
        if (
          member.accessibility === "private" ||
          member.accessibility === "protected"
        ) continue;
        const memberName = keyName(member.key);
        if (!memberName) continue;
        if (member.type === "MethodDefinition") {
          if (member.kind !== "method") continue;
          check(ctx, `${name}.${memberName}`, member.key, member.value, false);
        } else if (member.value) {
          const value = unwrap(member.value);
          const annotated = member.typeAnnotation != null;
          if (isFunctionValue(value)) {
            check(ctx, `${name}.${memberName}`, member.key, value, annotated);
          }
        }
      }
      break;
    case "TSInterfaceDeclaration":
      typeMembers(ctx, name, decl.body.body);
      break;
    case "TSTypeAliasDeclaration": {
      const type = decl.typeAnnotation;
      if (type.type === "TSTypeLiteral") typeMembers(ctx, name, type.members);
      else if (type.type === "TSFunctionType") {
        check(ctx, name, decl.id, type, false);
      }
      break;
    }
  }
}

/** Top-level declarations by local name, for `export { name }` lists. */
function localDeclarations(body: Node[]): Map<string, Node> {
  const locals = new Map<string, Node>();
  for (const stmt of body) {
    const decl = stmt.type === "ExportNamedDeclaration"
      ? stmt.declaration
      : stmt;
    if (!decl) continue;
    if (decl.type === "VariableDeclaration") {
      for (const d of decl.declarations) {
        if (d.id.type === "Identifier") locals.set(d.id.name, d);
      }
    } else if (
      (decl.type === "FunctionDeclaration" ||
        decl.type === "ClassDeclaration" ||
        decl.type === "TSInterfaceDeclaration" ||
        decl.type === "TSTypeAliasDeclaration") &&
      decl.id
    ) {
      locals.set(decl.id.name, decl);
    }
  }
  return locals;
}

function checkExports(ctx: Ctx, program: Deno.lint.Program) {
  const locals = localDeclarations(program.body);
  for (const stmt of program.body) {
    if (stmt.type === "ExportNamedDeclaration") {
      const decl = stmt.declaration;
      if (decl?.type === "VariableDeclaration") {
        for (const d of decl.declarations) {
          if (d.id.type === "Identifier") exported(ctx, d.id.name, d);
        }
      } else if (decl && "id" in decl && decl.id?.type === "Identifier") {
        exported(ctx, decl.id.name, decl);
      }
      if (stmt.source) continue;
      for (const spec of stmt.specifiers) {
        const local = keyName(spec.local);
        const target = local ? locals.get(local) : undefined;
        if (target) exported(ctx, keyName(spec.exported) ?? local!, target);
      }
    } else if (stmt.type === "ExportDefaultDeclaration") {
      const decl = stmt.declaration;
      if (
        decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration"
      ) {
        exported(ctx, decl.id?.name ?? "default export", decl);
      } else if (isFunctionValue(unwrap(decl))) {
        check(ctx, "default export", decl, unwrap(decl) as WithParams, false);
      }
    }
  }
}

function checkHandlerCall(ctx: Ctx, call: Deno.lint.CallExpression) {
  const callee = call.callee;
  const name = callee.type === "Identifier"
    ? callee.name
    : callee.type === "MemberExpression" &&
        callee.property.type === "Identifier"
    ? callee.property.name
    : undefined;
  if (!name || !HANDLER_FACTORIES.has(name)) return;
  for (const arg of call.arguments) {
    const value = unwrap(arg);
    if (isFunctionValue(value)) {
      check(ctx, `${name} handler`, value, value, true);
    } else if (value.type === "ObjectExpression") {
      for (const prop of value.properties) {
        if (prop.type !== "Property") continue;
        const key = keyName(prop.key);
        const fn = unwrap(prop.value);
        if (key && HANDLER_KEYS.has(key) && isFunctionValue(fn)) {
          check(ctx, `${name} ${key}`, prop.key, fn, true);
        }
      }
    }
  }
}

/** The role of the local file `specifier` names, for a relative specifier. */
function targetRole(filename: string, specifier: string): Role | undefined {
  return specifier.startsWith(".")
    ? classifyPath(resolve(dirname(filename), specifier))
    : undefined;
}

function stringValue(node: Node | null | undefined): string | undefined {
  if (node?.type === "Literal" && typeof node.value === "string") {
    return node.value;
  }
  if (node?.type === "TemplateLiteral" && node.expressions.length === 0) {
    return node.quasis[0]?.cooked ?? undefined;
  }
  return undefined;
}

/** Whether `id` names a binding (a declaration, a key, a member), not a read. */
function isBindingOrKey(id: Deno.lint.Identifier): boolean {
  const parent = id.parent;
  switch (parent?.type) {
    case "MemberExpression":
      return parent.property === id && !parent.computed;
    case "Property":
      return parent.key === id && !parent.computed && parent.value !== id;
    case "TSQualifiedName":
      return parent.right === id;
    case "MethodDefinition":
    case "PropertyDefinition":
    case "TSPropertySignature":
    case "TSMethodSignature":
      return parent.key === id;
    default:
      return false;
  }
}

/** Names the file binds itself (variables, parameters, functions, classes, imports). */
function bindsName(id: Deno.lint.Identifier): boolean {
  const parent = id.parent;
  switch (parent?.type) {
    case "VariableDeclarator":
      return parent.id === id;
    case "FunctionDeclaration":
    case "FunctionExpression":
    case "ClassDeclaration":
    case "ClassExpression":
      return parent.id === id || (parent.type.startsWith("Function") &&
        (parent as { params: Node[] }).params.includes(id));
    case "ArrowFunctionExpression":
      return parent.params.includes(id);
    case "ImportSpecifier":
    case "ImportDefaultSpecifier":
    case "ImportNamespaceSpecifier":
      return parent.local === id;
    default:
      return false;
  }
}

/**
 * A lint rule reporting the findings of one layer rule. All three walk the
 * same imports and globals; each reports only its own rule's findings.
 */
function layerRule(rule: LayerRule): Deno.lint.Rule {
  return {
    create(ctx) {
      if (isTestFile(ctx.filename)) return {};
      const role = classifyPath(ctx.filename);
      if (role === undefined) return {};
      const report = (finding: LayerFinding | undefined, node: Node) => {
        if (finding?.rule === rule) {
          ctx.report({ node, message: finding.message, hint: finding.hint });
        }
      };
      const fromImport = (source: Node | null | undefined) => {
        const specifier = stringValue(source);
        if (source && specifier !== undefined) {
          report(
            judgeImport(
              role,
              specifier,
              targetRole(ctx.filename, specifier),
            ),
            source,
          );
        }
      };
      // Global reads are judged at the end, once every local binding is known.
      const bound = new Set<string>();
      const reads: { name: string; node: Deno.lint.Identifier }[] = [];
      return {
        ImportDeclaration(node) {
          fromImport(node.source);
        },
        ExportNamedDeclaration(node) {
          fromImport(node.source);
        },
        ExportAllDeclaration(node) {
          fromImport(node.source);
        },
        ImportExpression(node) {
          if (stringValue(node.source) !== undefined) fromImport(node.source);
          else report(judgeComputedImport(role), node.source);
        },
        Identifier(node) {
          if (bindsName(node)) bound.add(node.name);
          else if (
            (IO_GLOBALS.has(node.name) || GLOBAL_OBJECTS.has(node.name)) &&
            !isBindingOrKey(node)
          ) {
            reads.push({ name: node.name, node });
          }
        },
        "Program:exit"() {
          for (const { name, node } of reads) {
            if (bound.has(name)) continue;
            if (IO_GLOBALS.has(name)) {
              report(judgeGlobal(role, name), node);
              continue;
            }
            const parent = node.parent;
            if (parent?.type === "MemberExpression" && parent.object === node) {
              const key = parent.computed
                ? stringValue(parent.property)
                : parent.property.type === "Identifier"
                ? parent.property.name
                : undefined;
              report(judgeGlobal(role, key, name), parent);
            } else if (parent?.type !== "TSTypeQuery") {
              report(judgeGlobal(role, undefined, name), node);
            }
          }
        },
      };
    },
  };
}

/**
 * The plugin object, exported as default for `deno.json`'s `lint.plugins`.
 *
 * @example
 * ```ts
 * import plugin from "./lint_plugin.ts";
 * const diagnostics = Deno.lint.runPlugin(
 *   plugin,
 *   "/app/src/ports/repo.ts",
 *   "export interface Repo { save(todo: string): void }",
 * );
 * console.log(diagnostics[0].message);
 * ```
 */
const plugin: Deno.lint.Plugin = {
  name: "krepis",
  rules: {
    [CTX_RULE]: {
      create(ctx) {
        if (isTestFile(ctx.filename)) return {};
        const role = classifyPath(ctx.filename);
        return {
          Program(program) {
            if (role !== undefined && CTX_ROLES.has(role)) {
              checkExports(ctx, program);
            }
          },
          CallExpression(call) {
            checkHandlerCall(ctx, call);
          },
        };
      },
    },
    [LAYER_RULES.domainImportsInfrastructure]: layerRule(
      LAYER_RULES.domainImportsInfrastructure,
    ),
    [LAYER_RULES.domainUsesDenoApi]: layerRule(LAYER_RULES.domainUsesDenoApi),
    [LAYER_RULES.applicationImportsAdapter]: layerRule(
      LAYER_RULES.applicationImportsAdapter,
    ),
  },
};

export default plugin;
