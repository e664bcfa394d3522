/**
 * The `ctx-first` rule, independent of any AST library: both the ts-morph
 * checker and the Deno lint plugin extract the first parameter of a function
 * and ask {@linkcode judgeFirstParam} for a verdict, so the two front ends
 * cannot drift apart.
 *
 * @module
 */

/**
 * The rule's identifier, used in reports and as the lint rule name.
 *
 * @example
 * ```ts
 * import { CTX_RULE } from "./ctx_rule.ts";
 * console.log(`krepis/${CTX_RULE}`); // the lint plugin's rule id
 * ```
 */
export const CTX_RULE = "ctx-first";

/**
 * What the rule needs to know about a function's first parameter.
 *
 * @example
 * ```ts
 * import type { ParamShape } from "./ctx_rule.ts";
 * const first: ParamShape = { name: "ctx", typeText: "KrepisContext" };
 * ```
 */
export interface ParamShape {
  /** The parameter's name, or undefined for a destructuring pattern. */
  name?: string;
  /** The source text of the type annotation, if there is one. */
  typeText?: string;
  /** Whether it is a rest parameter (`...args`). */
  rest?: boolean;
}

/**
 * A rule violation without a position.
 *
 * @example
 * ```ts
 * import type { Finding } from "./ctx_rule.ts";
 * const finding: Finding = { message: "`f` takes no parameters", hint: "add ctx" };
 * ```
 */
export interface Finding {
  /** What is wrong. */
  message: string;
  /** How to fix it. */
  hint: string;
}

const CTX_NAMES = new Set(["ctx", "_ctx"]);
const CONTEXT_TYPE = /\bKrepisContext\b/;

/**
 * Judge the first parameter of a function that must take the context first.
 *
 * `subject` names the function in messages (`createTodo`,
 * `TodoRepository.save`). `contextual` says the parameter's type comes from
 * the surrounding code (a handler passed to `defineCommand`, a method of an
 * object literal), where an unannotated `ctx` is fine.
 *
 * @example
 * ```ts
 * import { judgeFirstParam } from "./ctx_rule.ts";
 * judgeFirstParam("save", { name: "ctx", typeText: "KrepisContext" }, false); // undefined
 * judgeFirstParam("save", { name: "todo", typeText: "Todo" }, false)?.message;
 * ```
 */
export function judgeFirstParam(
  subject: string,
  first: ParamShape | undefined,
  contextual: boolean,
): Finding | undefined {
  const example = subject.includes(" ")
    ? "(ctx, input, deps) => ..."
    : `${subject}(ctx: KrepisContext, ...)`;
  const hint =
    `make \`ctx: KrepisContext\` the first parameter, e.g. \`${example}\`, ` +
    `and import type { KrepisContext } from "@krepis/core"`;
  if (first === undefined) {
    return {
      message:
        `\`${subject}\` takes no parameters; it must take \`ctx: KrepisContext\` first`,
      hint,
    };
  }
  const shown = first.rest
    ? `...${first.name ?? "args"}`
    : first.name ?? "{ ... }";
  if (first.rest) {
    return {
      message:
        `\`${subject}\` starts with the rest parameter \`${shown}\`; it must take \`ctx: KrepisContext\` first`,
      hint,
    };
  }
  if (first.typeText !== undefined) {
    if (!CONTEXT_TYPE.test(first.typeText)) {
      return {
        message:
          `\`${subject}\` takes \`${shown}: ${first.typeText}\` first; it must take \`ctx: KrepisContext\` first`,
        hint,
      };
    }
    if (first.name !== undefined && !CTX_NAMES.has(first.name)) {
      return {
        message:
          `\`${subject}\` names its context \`${first.name}\`; call it \`ctx\``,
        hint: `rename \`${first.name}\` to \`ctx\``,
      };
    }
    return undefined;
  }
  if (contextual && first.name !== undefined && CTX_NAMES.has(first.name)) {
    return undefined;
  }
  return {
    message:
      `\`${subject}\` takes \`${shown}\` first without the type \`KrepisContext\``,
    hint,
  };
}

/**
 * Callees whose function arguments are handlers called as `(ctx, input, deps)`.
 *
 * @example
 * ```ts
 * import { HANDLER_FACTORIES } from "./ctx_rule.ts";
 * HANDLER_FACTORIES.has("defineQuery"); // true
 * ```
 */
export const HANDLER_FACTORIES: ReadonlySet<string> = new Set([
  "defineCommand",
  "defineQuery",
]);

/**
 * Properties of an options object passed to a handler factory that hold the handler.
 *
 * @example
 * ```ts
 * import { HANDLER_KEYS } from "./ctx_rule.ts";
 * HANDLER_KEYS.has("handle"); // true
 * ```
 */
export const HANDLER_KEYS: ReadonlySet<string> = new Set([
  "handler",
  "handle",
  "run",
  "execute",
]);
