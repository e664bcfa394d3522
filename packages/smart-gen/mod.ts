/**
 * `@krepis/smart-gen`: the ts-morph based ctx checker, its Deno lint plugin
 * twin (`./lint-plugin`), and the code generator behind `krepis gen`
 * (`./gen`).
 *
 * ```ts ignore
 * import { checkCtx, formatText } from "@krepis/smart-gen";
 * console.log(formatText(checkCtx(["examples/todo"])));
 * ```
 *
 * @module
 */

export {
  classifyPath,
  CTX_ROLES,
  isTestFile,
  type Role,
} from "./src/classify.ts";
export {
  CTX_RULE,
  type Finding,
  HANDLER_FACTORIES,
  HANDLER_KEYS,
  judgeFirstParam,
  type ParamShape,
} from "./src/ctx_rule.ts";
export {
  APPLICATION_ROLES,
  CORE_PURE_ENTRIES,
  GLOBAL_OBJECTS,
  IO_GLOBALS,
  isInfrastructureSpecifier,
  judgeComputedImport,
  judgeGlobal,
  judgeImport,
  LAYER_RULES,
  type LayerFinding,
  type LayerRule,
  OUTER_ROLES,
} from "./src/layer_rule.ts";
export {
  formatJson,
  formatText,
  type Report,
  sortViolations,
  type Violation,
} from "./src/report.ts";
export { parseStrict, runMain, UsageError } from "./src/args.ts";
export {
  type AppCompilerOptions,
  appCompilerOptions,
  appSourceFiles,
  relativePath,
} from "./src/project.ts";
export { checkCtx } from "./check.ts";
