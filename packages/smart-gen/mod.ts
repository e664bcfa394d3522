/**
 * `@krepis/smart-gen`: the ts-morph based ctx checker, its Deno lint plugin
 * twin (`./lint-plugin`), and the code generator behind `krepis gen`.
 *
 * ```ts ignore
 * import { checkCtxFile, loadApp } from "@krepis/smart-gen";
 * const app = loadApp("examples/todo");
 * for (const file of app.files) console.log(checkCtxFile(app.root, file));
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
export { checkCtxFile } from "./src/ctx_checker.ts";
export {
  createProject,
  loadApp,
  type LoadedApp,
  relativePath,
} from "./src/project.ts";
export {
  formatJson,
  formatText,
  type Report,
  sortViolations,
  type Violation,
} from "./src/report.ts";
export { parseStrict, runMain, UsageError } from "./src/args.ts";
export { checkCtx } from "./check.ts";
