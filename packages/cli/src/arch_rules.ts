/**
 * The query rules of the Trinity pattern, as data: identifiers, and the
 * predicate that decides what counts as a writing port method. The layer
 * rules (what the domain and the application may import and touch) live in
 * `@krepis/smart-gen`'s `layer_rule.ts`, shared with the lint plugin. Kept
 * apart from the AST walking so the rules read in one place.
 *
 * @module
 */

import { LAYER_RULES } from "@krepis/smart-gen";

/**
 * Rule identifiers reported by the architecture checker: the layer rules
 * (shared with the lint plugin) and the query rules.
 *
 * @example
 * ```ts
 * import { ARCH_RULES } from "./arch_rules.ts";
 * ARCH_RULES.queryWritesPort; // "query-writes-port"
 * ```
 */
export const ARCH_RULES = {
  ...LAYER_RULES,
  queryInvokesCommand: "query-invokes-command",
  queryWritesPort: "query-writes-port",
} as const;

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
